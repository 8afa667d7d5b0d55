import { useRef, type KeyboardEvent } from "react";
import "./policies.css";

/**
 * A plain textarea with a line-number gutter. Lines with a problem are marked in the
 * gutter; `focusLine` moves the caret to a line (used by the problem list). Tab inserts
 * two spaces; Escape then Tab leaves the editor, so keyboard users are never trapped.
 */
export function RegoEditor({
  id,
  value,
  onChange,
  badLines,
  describedBy,
  editorRef,
}: {
  id: string;
  value: string;
  onChange(v: string): void;
  badLines: ReadonlySet<number>;
  describedBy?: string;
  editorRef?: React.RefObject<HTMLTextAreaElement | null>;
}) {
  const gutter = useRef<HTMLDivElement>(null);
  const escaped = useRef(false);
  const lines = value.split("\n").length;

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === "Escape") {
      escaped.current = true;
      return;
    }
    if (e.key === "Tab" && !e.shiftKey && !escaped.current) {
      e.preventDefault();
      const t = e.currentTarget;
      const { selectionStart: s, selectionEnd: end } = t;
      const next = `${value.slice(0, s)}  ${value.slice(end)}`;
      onChange(next);
      requestAnimationFrame(() => t.setSelectionRange(s + 2, s + 2));
      return;
    }
    escaped.current = false;
  }

  return (
    <div className="rego-editor" data-invalid={badLines.size > 0 || undefined}>
      <div className="rego-gutter" ref={gutter} aria-hidden="true">
        {Array.from({ length: lines }, (_, i) => (
          <div key={i} className={badLines.has(i + 1) ? "bad-line" : undefined}>
            {i + 1}
          </div>
        ))}
      </div>
      <textarea
        id={id}
        ref={editorRef}
        className="code-area"
        value={value}
        rows={Math.min(30, Math.max(14, lines + 1))}
        spellCheck={false}
        autoCapitalize="off"
        autoComplete="off"
        wrap="off"
        aria-invalid={badLines.size > 0 || undefined}
        aria-describedby={describedBy}
        onKeyDown={onKeyDown}
        onScroll={(e) => {
          if (gutter.current)
            gutter.current.scrollTop = e.currentTarget.scrollTop;
        }}
        onChange={(e) => onChange(e.target.value)}
      />
    </div>
  );
}

/** Puts the caret at the start of `line` (1-based) and scrolls it into view. */
export function focusLine(
  el: HTMLTextAreaElement | null,
  line: number,
  column: number | null,
): void {
  if (!el) return;
  const lines = el.value.split("\n");
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++)
    offset += (lines[i]?.length ?? 0) + 1;
  offset += Math.max(0, (column ?? 1) - 1);
  el.focus();
  el.setSelectionRange(offset, offset);
  const lineHeight = parseFloat(getComputedStyle(el).lineHeight) || 20;
  el.scrollTop = Math.max(0, (line - 3) * lineHeight);
}
