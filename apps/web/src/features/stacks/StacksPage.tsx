import { useEffect, useState } from "react";
import { STACKS_LIST } from "@stackyard/api-client";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { StateBadge } from "../../components/StateBadge.tsx";
import { formatRelative } from "../../components/time.ts";
import { useQuery } from "../../graphql/api.ts";
import { STACK_FOLDERS } from "../../graphql/operations.ts";
import { Link, paths } from "../../routes/router.tsx";
import {
  STATE_FILTERS,
  folderOfLabel,
  foldersOf,
  stacksSearchInput,
  type StateFilterId,
} from "./stack-filters.ts";

const PAGE_SIZE = 50;

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

/**
 * All stacks, paged by the server (keyset cursors), filtered on the server by state,
 * folder, label and text.
 */
export function StacksPage() {
  const [filter, setFilter] = useState<StateFilterId>("all");
  const [searchText, setSearchText] = useState("");
  const [labelText, setLabelText] = useState("");
  const [folder, setFolder] = useState("");
  const search = useDebounced(searchText, 250);
  const label = useDebounced(labelText, 250);
  // cursors[i] is the `after` of page i; page 0 starts at null.
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  const page = cursors.length - 1;

  useEffect(() => setCursors([null]), [filter, search, label, folder]);

  const input = stacksSearchInput({
    filter,
    search,
    label,
    folder,
    after: cursors[page] ?? null,
    pageSize: PAGE_SIZE,
  });
  const q = useQuery(STACKS_LIST, { input }, { pollMs: 5000 });
  const stacks = q.data?.searchStacks.edges.map((e) => e.node) ?? [];
  const pageInfo = q.data?.searchStacks.pageInfo;
  const filtered =
    filter !== "all" || search.trim() || label.trim() || folder !== "";
  // Folders are `folder:<x>` labels. The server lists every folder of the stacks the
  // caller can see; labels of the page shown are merged in so a new one appears at once.
  const folderList = useQuery(STACK_FOLDERS, undefined, {
    pollMs: 30000,
  });
  const folders = foldersOf(
    stacks.map((st) => st.labels),
    folderList.data?.stackyardStackFolders ?? [],
  );
  const pickLabel = (l: string) => {
    const f = folderOfLabel(l);
    if (f) setFolder(f);
    else setLabelText(l);
  };

  return (
    <>
      <div className="page-head">
        <h1>Stacks</h1>
        <Link className="button primary" to={paths.newStack()}>
          New stack
        </Link>
      </div>

      <div className="toolbar">
        <div className="tabs" role="group" aria-label="Filter by state">
          {STATE_FILTERS.map((f) => (
            <button
              key={f.id}
              type="button"
              className="tab"
              aria-pressed={filter === f.id}
              onClick={() => setFilter(f.id)}
            >
              {f.label}
            </button>
          ))}
        </div>
        <div className="toolbar-fields">
          <label className="inline-field">
            <span>Search</span>
            <input
              type="search"
              placeholder="Name, repository…"
              value={searchText}
              onChange={(e) => setSearchText(e.target.value)}
            />
          </label>
          {(folders.length > 0 || folder) && (
            <label className="inline-field">
              <span>Folder</span>
              <select
                value={folder}
                onChange={(e) => setFolder(e.target.value)}
              >
                <option value="">All folders</option>
                {(folder && !folders.includes(folder)
                  ? [...folders, folder]
                  : folders
                ).map((f) => (
                  <option key={f} value={f}>
                    {f}
                  </option>
                ))}
              </select>
            </label>
          )}
          <label className="inline-field">
            <span>Label</span>
            <input
              type="search"
              placeholder="e.g. team:network"
              value={labelText}
              onChange={(e) => setLabelText(e.target.value)}
            />
          </label>
        </div>
      </div>

      <ErrorNote>{q.error}</ErrorNote>
      {q.loading && !q.data ? (
        <Loading what="stacks" />
      ) : stacks.length === 0 && !q.error ? (
        filtered ? (
          <p className="empty">No stacks match these filters.</p>
        ) : (
          <div className="empty">
            <p>
              <strong>No stacks yet.</strong> A stack runs OpenTofu for one
              directory of a git repository.
            </p>
            <Link className="button primary" to={paths.newStack()}>
              Create your first stack
            </Link>
          </div>
        )
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">
              Stacks, page {page + 1}
            </caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">State</th>
                <th scope="col">Repository</th>
                <th scope="col">Labels</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {stacks.map((s) => (
                <tr key={s.id}>
                  <td>
                    <Link to={paths.stack(s.id)} className="strong">
                      {s.name}
                    </Link>
                    {s.lockedBy && (
                      <span className="tag" title={`Locked by ${s.lockedBy}`}>
                        locked
                      </span>
                    )}
                    {s.isDisabled && <span className="tag">disabled</span>}
                  </td>
                  <td>
                    <StateBadge state={s.state} />
                  </td>
                  <td className="mono truncate" title={s.repository}>
                    {s.repository}
                    <span className="muted">
                      {" "}
                      @ {s.branch}
                      {s.projectRoot ? ` / ${s.projectRoot}` : ""}
                    </span>
                  </td>
                  <td>
                    {s.labels.map((l) => (
                      <button
                        key={l}
                        type="button"
                        className="tag tag-button"
                        onClick={() => pickLabel(l)}
                        title={`Show stacks labelled ${l}`}
                      >
                        {l}
                      </button>
                    ))}
                  </td>
                  <td className="muted nowrap">
                    {s.stateSetAt ? formatRelative(s.stateSetAt) : "—"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      {(page > 0 || pageInfo?.hasNextPage) && (
        <nav className="pager" aria-label="Pages">
          <button
            type="button"
            className="button"
            disabled={page === 0}
            onClick={() => setCursors((c) => c.slice(0, -1))}
          >
            Previous page
          </button>
          <span aria-live="polite">Page {page + 1}</span>
          <button
            type="button"
            className="button"
            disabled={!pageInfo?.hasNextPage}
            onClick={() =>
              pageInfo?.endCursor &&
              setCursors((c) => [...c, pageInfo.endCursor])
            }
          >
            Next page
          </button>
        </nav>
      )}
    </>
  );
}
