/**
 * ANSI SGR escape codes → styled segments, for run logs (OpenTofu colours its plan).
 * Supports bold/dim/italic/underline/inverse, the 16 colours (as palette indexes the
 * theme styles), 256-colour and 24-bit colours (as CSS colours). Every other escape
 * sequence (cursor movement, erase, OSC titles and links) is dropped.
 */
export interface AnsiStyle {
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  inverse?: boolean;
  /** 0–15: a theme palette index; a string: a CSS colour. */
  fg?: number | string;
  bg?: number | string;
}

export interface AnsiSegment {
  text: string;
  style: AnsiStyle;
}

// CSI (ESC [ params intermediates final), OSC (ESC ] … BEL or ST), and two-byte escapes.
const ESCAPE =
  // eslint-disable-next-line no-control-regex
  /\x1b\[([0-9;:?]*)([ -/]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

export function parseAnsi(input: string): AnsiSegment[] {
  const text = input.replace(/\r\n/g, "\n");
  const out: AnsiSegment[] = [];
  let style: AnsiStyle = {};
  let last = 0;
  const push = (s: string) => {
    if (!s) return;
    const prev = out[out.length - 1];
    if (prev && sameStyle(prev.style, style)) prev.text += s;
    else out.push({ text: s, style: { ...style } });
  };
  for (const m of text.matchAll(ESCAPE)) {
    push(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[3] === "m" && !m[2]) style = applySgr(style, m[1] ?? "");
  }
  push(text.slice(last));
  return out;
}

/** Drops every escape sequence (for plain-text search or copy). */
export function stripAnsi(input: string): string {
  return input.replace(ESCAPE, "");
}

function applySgr(current: AnsiStyle, params: string): AnsiStyle {
  const codes = params === "" ? [0] : params.split(/[;:]/).map(Number);
  const s: AnsiStyle = { ...current };
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i] ?? 0;
    if (c === 0) {
      for (const k of Object.keys(s)) delete s[k as keyof AnsiStyle];
    } else if (c === 1) s.bold = true;
    else if (c === 2) s.dim = true;
    else if (c === 3) s.italic = true;
    else if (c === 4) s.underline = true;
    else if (c === 7) s.inverse = true;
    else if (c === 22) {
      delete s.bold;
      delete s.dim;
    } else if (c === 23) delete s.italic;
    else if (c === 24) delete s.underline;
    else if (c === 27) delete s.inverse;
    else if (c >= 30 && c <= 37) s.fg = c - 30;
    else if (c === 39) delete s.fg;
    else if (c >= 40 && c <= 47) s.bg = c - 40;
    else if (c === 49) delete s.bg;
    else if (c >= 90 && c <= 97) s.fg = c - 90 + 8;
    else if (c >= 100 && c <= 107) s.bg = c - 100 + 8;
    else if (c === 38 || c === 48) {
      const mode = codes[i + 1];
      let colour: number | string | undefined;
      if (mode === 5) {
        colour = xterm256(codes[i + 2] ?? 0);
        i += 2;
      } else if (mode === 2) {
        const [r, g, b] = [codes[i + 2], codes[i + 3], codes[i + 4]].map((v) =>
          Math.max(0, Math.min(255, v ?? 0)),
        );
        colour = `rgb(${r}, ${g}, ${b})`;
        i += 4;
      } else break;
      if (c === 38) s.fg = colour;
      else s.bg = colour;
    }
  }
  return s;
}

function xterm256(n: number): number | string {
  if (n < 16) return n;
  if (n < 232) {
    const i = n - 16;
    const level = (v: number) => (v === 0 ? 0 : 55 + v * 40);
    return `rgb(${level(Math.floor(i / 36))}, ${level(Math.floor(i / 6) % 6)}, ${level(i % 6)})`;
  }
  const grey = 8 + (n - 232) * 10;
  return `rgb(${grey}, ${grey}, ${grey})`;
}

function sameStyle(a: AnsiStyle, b: AnsiStyle): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys)
    if (a[k as keyof AnsiStyle] !== b[k as keyof AnsiStyle]) return false;
  return true;
}
