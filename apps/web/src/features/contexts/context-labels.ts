/** Labels typed as one comma-separated line: trimmed, blanks dropped, duplicates removed. */
export function parseLabels(text: string): string[] {
  const seen = new Set<string>();
  for (const raw of text.split(",")) {
    const l = raw.trim();
    if (l) seen.add(l);
  }
  return [...seen];
}

/** A sentence about the first label that cannot be saved, or null when all are fine. */
export function labelsError(labels: string[]): string | null {
  for (const l of labels) {
    if (/\s/.test(l))
      return `The label “${l}” contains a space; separate labels with commas.`;
    if (l === "autoattach:" || l === "autoattach:*")
      return "Write the stack label after autoattach:, e.g. autoattach:prod.";
  }
  return null;
}

/** The stack labels an `autoattach:<label>` context attaches itself to. */
export function autoattachTargets(labels: string[]): string[] {
  return labels
    .filter((l) => l.startsWith("autoattach:"))
    .map((l) => l.slice("autoattach:".length));
}
