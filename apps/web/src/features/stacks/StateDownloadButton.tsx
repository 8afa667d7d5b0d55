import { useState } from "react";
import { STATE_DOWNLOAD_URL } from "@stackyard/api-client";
import { ErrorNote } from "../../components/Notice.tsx";
import { api, friendlyError } from "../../graphql/api.ts";
import { STATE_VERSION_DOWNLOAD_URL } from "../../graphql/operations.ts";

function saveBlob(blob: Blob, filename: string): void {
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

/**
 * Downloads the stack's current state file, or one version of it (`version`). The
 * signed URL from `stateDownloadUrl` (`stackyardStateVersionDownloadUrl`) is fetched
 * without the session's bearer token (it carries its own short-lived token).
 */
export function StateDownloadButton({
  stackId,
  version,
}: {
  stackId: string;
  version?: { id: string; serial: number };
}) {
  const [phase, setPhase] = useState<"idle" | "signing" | "downloading">(
    "idle",
  );
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  async function download() {
    setError(null);
    setDone(null);
    setPhase("signing");
    let url: string;
    try {
      if (version) {
        const r = await api.request(STATE_VERSION_DOWNLOAD_URL, {
          stack: stackId,
          version: version.id,
        });
        url = r.stackyardStateVersionDownloadUrl.url;
      } else {
        const r = await api.request(STATE_DOWNLOAD_URL, { input: { stackId } });
        url = r.stateDownloadUrl.url;
      }
    } catch (err) {
      setError(
        /has no state/i.test(friendlyError(err))
          ? "This stack has no state yet: it appears after the first applied run."
          : friendlyError(err),
      );
      setPhase("idle");
      return;
    }
    setPhase("downloading");
    try {
      const res = await fetch(url, { credentials: "omit" });
      if (!res.ok)
        throw new Error(
          res.status === 403 || res.status === 401
            ? "The download link expired. Try again."
            : `The state could not be downloaded (HTTP ${res.status}).`,
        );
      const named = /filename="?([^";]+)"?/i.exec(
        res.headers.get("content-disposition") ?? "",
      )?.[1];
      saveBlob(
        await res.blob(),
        named ??
          (version
            ? `${stackId}-serial-${version.serial}.tfstate`
            : `${stackId}.tfstate`),
      );
      setDone("State downloaded.");
    } catch (err) {
      // Another origin (the server's public URL) may refuse fetch() without CORS. The
      // link itself answers as an attachment, so following it downloads the file and
      // leaves this page in place (and, unlike window.open, no popup blocker objects).
      if (err instanceof TypeError) {
        const a = document.createElement("a");
        a.href = url;
        a.rel = "noopener";
        document.body.appendChild(a);
        a.click();
        a.remove();
        setDone("Download started.");
      } else setError(friendlyError(err));
    } finally {
      setPhase("idle");
    }
  }

  return (
    <div className="inline-status">
      <button
        type="button"
        className="button small"
        disabled={phase !== "idle"}
        aria-label={
          version ? `Download state serial ${version.serial}` : undefined
        }
        onClick={() => void download()}
      >
        {phase === "signing"
          ? "Preparing download…"
          : phase === "downloading"
            ? "Downloading…"
            : version
              ? "Download"
              : "Download current state"}
      </button>
      <span className="muted" role="status">
        {done}
      </span>
      <ErrorNote>{error}</ErrorNote>
    </div>
  );
}
