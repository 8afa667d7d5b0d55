/** "3s", "2m 05s", "1h 02m": a compact duration for timelines. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${String(m % 60).padStart(2, "0")}m`;
}

/** "just now", "5 minutes ago", or a date for older times. */
export function formatRelative(unixSeconds: number, now = Date.now()): string {
  const diff = Math.round(now / 1000 - unixSeconds);
  if (diff < 10) return "just now";
  if (diff < 60) return `${diff} seconds ago`;
  if (diff < 3600) {
    const m = Math.floor(diff / 60);
    return `${m} minute${m === 1 ? "" : "s"} ago`;
  }
  if (diff < 86400) {
    const h = Math.floor(diff / 3600);
    return `${h} hour${h === 1 ? "" : "s"} ago`;
  }
  return new Date(unixSeconds * 1000).toLocaleDateString();
}

export function formatTimestamp(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toLocaleString();
}
