import { useEffect, useRef, useState } from "react";

/** Copies `text` to the clipboard; falls back to selecting it when the API is refused. */
async function copyText(text: string, fallback: HTMLElement | null) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (fallback) {
      const range = document.createRange();
      range.selectNodeContents(fallback);
      const sel = window.getSelection();
      sel?.removeAllRanges();
      sel?.addRange(range);
    }
    return false;
  }
}

/**
 * A labelled read-only value (a token, a key, a command) with a copy button. The copy
 * result is announced to screen readers; when the browser refuses the clipboard, the
 * text is selected instead so Ctrl+C works.
 */
export function CopyField({
  label,
  value,
  testId,
}: {
  label: string;
  value: string;
  testId?: string;
}) {
  const [status, setStatus] = useState<string>("");
  const pre = useRef<HTMLPreElement>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const id = `copy-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <div className="copy-field">
      <div className="copy-head">
        <span className="strong" id={id}>
          {label}
        </span>
        <button
          type="button"
          className="button small"
          aria-describedby={id}
          onClick={async () => {
            const ok = await copyText(value, pre.current);
            setStatus(
              ok ? "Copied." : "Selected: press Ctrl+C (⌘C) to copy it.",
            );
            clearTimeout(timer.current);
            timer.current = setTimeout(() => setStatus(""), 4000);
          }}
        >
          Copy
        </button>
        <span className="muted" role="status">
          {status}
        </span>
      </div>
      <pre
        ref={pre}
        className="copy-value mono"
        aria-labelledby={id}
        data-testid={testId}
        tabIndex={0}
      >
        {value}
      </pre>
    </div>
  );
}
