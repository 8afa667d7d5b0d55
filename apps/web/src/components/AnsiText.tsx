import { memo, type CSSProperties } from "react";
import { parseAnsi, type AnsiSegment } from "./ansi.ts";

function props(seg: AnsiSegment): {
  className?: string;
  style?: CSSProperties;
} {
  const { style } = seg;
  const classes: string[] = [];
  const css: CSSProperties = {};
  let fg = style.fg;
  let bg = style.bg;
  if (style.inverse) [fg, bg] = [bg ?? "var(--log-bg)", fg ?? "var(--log-fg)"];
  if (typeof fg === "number") classes.push(`ansi-fg-${fg}`);
  else if (fg) css.color = fg;
  if (typeof bg === "number") classes.push(`ansi-bg-${bg}`);
  else if (bg) css.backgroundColor = bg;
  if (style.bold) classes.push("ansi-bold");
  if (style.dim) classes.push("ansi-dim");
  if (style.italic) classes.push("ansi-italic");
  if (style.underline) classes.push("ansi-underline");
  return {
    ...(classes.length ? { className: classes.join(" ") } : {}),
    ...(Object.keys(css).length ? { style: css } : {}),
  };
}

/** Log text with its ANSI colours, as spans (text stays selectable and copyable). */
export const AnsiText = memo(function AnsiText({ text }: { text: string }) {
  return (
    <>
      {parseAnsi(text).map((seg, i) => {
        const p = props(seg);
        return p.className || p.style ? (
          <span key={i} {...p}>
            {seg.text}
          </span>
        ) : (
          seg.text
        );
      })}
    </>
  );
});
