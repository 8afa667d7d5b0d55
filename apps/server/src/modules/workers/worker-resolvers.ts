import {
  requireSession,
  type GraphQLContext,
} from "../../api/graphql-context.ts";
import type { Resolvers } from "../../api/generated/resolvers.ts";
import type { RunService } from "../runs/index.ts";
import type { SpaceAccess } from "../stacks/index.ts";
import { NotFoundError, ValidationError } from "../../platform/errors.ts";
import { WorkerPoolNotFoundError } from "./worker-errors.ts";
import type { WorkerService } from "./worker-service.ts";
import type { Worker, WorkerPool } from "./worker.ts";

type Ctx = GraphQLContext;

function requireCsr(csr: string | null | undefined): string {
  if (!csr?.trim())
    throw new ValidationError(
      "certificateSigningRequest is required: create one with `openssl req -new -newkey rsa:4096 -nodes -keyout pool.key -out pool.csr` and keep pool.key for the launcher (STACKYARD_POOL_PRIVATE_KEY)",
    );
  return csr;
}

interface PoolNode {
  id: string;
  config?: string;
}

/**
 * The parent of the `WorkerPool` field resolvers: what `presentPool` builds and what the
 * stacks module puts in `Stack.workerPool` (without a token).
 */
export interface WorkerPoolNode {
  id: string;
  name: string;
  description: string | null;
  labels: string[];
  space: string;
  /** The pool token, only right after it was issued (create, reset). */
  config?: string;
  driftDetectionRunLimit?: number | null;
}
/** The parent of the `Worker` field resolvers. */
export type WorkerNode = ReturnType<typeof presentWorker>;

/** `config` is the pool token when it is issued (create, reset); later reads fetch it. */
function presentPool(pool: WorkerPool, token?: string): WorkerPoolNode {
  return {
    id: pool.id,
    name: pool.name,
    description: pool.description || null,
    labels: pool.labels,
    space: pool.spaceId,
    config: token ?? "",
    driftDetectionRunLimit: null,
  };
}

function presentWorker(w: Worker) {
  return {
    id: w.id,
    busy: w.status === "BUSY",
    drained: w.drained,
    // spacectl json.Unmarshal's it into an object (graphql-compat §0.5.7).
    metadata: JSON.stringify(w.metadata ?? {}),
    status: w.status,
    currentRunId: w.currentRunId,
  };
}

/**
 * Worker pools and workers (spacectl `workerpool`, provider `spacelift_worker_pool`).
 * Pools live in spaces: reading needs READ on the pool's space, drain and cycle WRITE,
 * creating, changing, resetting and deleting ADMIN. A pool the caller cannot read is
 * "not found".
 */
export function workerResolvers(deps: {
  workers: Pick<
    WorkerService,
    | "getPool"
    | "listPools"
    | "listWorkers"
    | "setWorkerDrained"
    | "cyclePool"
    | "createPool"
    | "updatePool"
    | "resetPoolToken"
    | "deletePool"
    | "poolToken"
  >;
  runs: Pick<RunService, "pendingRuns" | "stackIdOfRun" | "getRun">;
  access: Pick<
    SpaceAccess,
    | "accessLevel"
    | "assertCanRead"
    | "assertCanWrite"
    | "assertCanAdmin"
    | "visibleSpaces"
    | "homeSpace"
  >;
}): Resolvers {
  const { workers, access } = deps;

  async function pool(
    ctx: Ctx,
    poolId: string,
    level: "read" | "write" | "admin",
  ): Promise<WorkerPool> {
    const session = requireSession(ctx);
    const found = await workers.getPool(poolId);
    if (!found) throw new WorkerPoolNotFoundError(poolId);
    const hidden = new WorkerPoolNotFoundError(poolId);
    if (level === "read")
      await access.assertCanRead(session, found.spaceId, hidden);
    else if (level === "write")
      await access.assertCanWrite(session, found.spaceId, hidden);
    else await access.assertCanAdmin(session, found.spaceId, hidden);
    return found;
  }

  async function canReadPool(ctx: Ctx, p: WorkerPoolNode): Promise<boolean> {
    return (await access.accessLevel(requireSession(ctx), p.space)) !== "NONE";
  }

  return {
    Query: {
      workerPools: async (_: unknown, _args: unknown, ctx: Ctx) => {
        const spaces = await access.visibleSpaces(requireSession(ctx));
        return (await workers.listPools(spaces)).map((p) => presentPool(p));
      },
      workerPool: async (_: unknown, args: { id: string }, ctx: Ctx) => {
        try {
          return presentPool(await pool(ctx, args.id, "read"));
        } catch (err) {
          if (err instanceof WorkerPoolNotFoundError) return null;
          throw err;
        }
      },
    },

    Mutation: {
      workerDrainSet: async (
        _: unknown,
        args: { workerPool: string; id: string; drain: boolean },
        ctx: Ctx,
      ) => {
        await pool(ctx, args.workerPool, "write");
        return presentWorker(
          await workers.setWorkerDrained(args.workerPool, args.id, args.drain),
        );
      },
      workerPoolCycle: async (_: unknown, args: { id: string }, ctx: Ctx) => {
        await pool(ctx, args.id, "write");
        await workers.cyclePool(args.id);
        return true;
      },
      // The CSR's public key becomes the pool key that secrets are sealed to; the pool
      // token (base64) is the credential and is returned as `config`. GraphQL has no field
      // to hand back a generated private key, so a CSR is required here.
      stackyardWorkerPoolCreate: async (
        _: unknown,
        args: {
          name: string;
          description?: string | null;
          space?: string | null;
          certificateSigningRequest?: string | null;
        },
        ctx: Ctx,
      ) => {
        const session = requireSession(ctx);
        const spaceId = args.space ?? (await access.homeSpace(session));
        await access.assertCanAdmin(session, spaceId);
        const csr = args.certificateSigningRequest?.trim();
        const issued = await workers.createPool({
          name: args.name,
          spaceId,
          description: args.description ?? "",
          ...(csr ? { csr } : {}),
        });
        return {
          pool: presentPool(issued.pool, issued.token),
          token: issued.token,
          privateKey: issued.privateKeyPem
            ? Buffer.from(issued.privateKeyPem).toString("base64")
            : null,
        };
      },
      workerPoolCreate: async (
        _: unknown,
        args: {
          name: string;
          certificateSigningRequest: string;
          description?: string | null;
          labels?: string[] | null;
          space?: string | null;
        },
        ctx: Ctx,
      ) => {
        const session = requireSession(ctx);
        const spaceId = args.space ?? (await access.homeSpace(session));
        await access.assertCanAdmin(session, spaceId);
        const issued = await workers.createPool({
          name: args.name,
          spaceId,
          description: args.description ?? "",
          csr: requireCsr(args.certificateSigningRequest),
        });
        const created =
          args.labels && args.labels.length > 0
            ? await workers.updatePool(issued.pool.id, {
                name: issued.pool.name,
                description: issued.pool.description,
                labels: args.labels,
                spaceId,
              })
            : issued.pool;
        return presentPool(created, issued.token);
      },
      workerPoolUpdate: async (
        _: unknown,
        args: {
          id: string;
          name: string;
          description?: string | null;
          labels?: string[] | null;
          space?: string | null;
        },
        ctx: Ctx,
      ) => {
        const current = await pool(ctx, args.id, "admin");
        const spaceId = args.space ?? current.spaceId;
        if (spaceId !== current.spaceId)
          await access.assertCanAdmin(requireSession(ctx), spaceId);
        return presentPool(
          await workers.updatePool(args.id, {
            name: args.name,
            description: args.description,
            labels: args.labels,
            spaceId,
          }),
        );
      },
      workerPoolReset: async (
        _: unknown,
        args: { id: string; certificateSigningRequest?: string | null },
        ctx: Ctx,
      ) => {
        await pool(ctx, args.id, "admin");
        const issued = await workers.resetPoolToken(args.id, {
          csr: args.certificateSigningRequest,
        });
        return presentPool(issued.pool, issued.token);
      },
      workerPoolDelete: async (_: unknown, args: { id: string }, ctx: Ctx) => {
        await pool(ctx, args.id, "admin");
        return presentPool(await workers.deletePool(args.id));
      },
    },

    Worker: {
      // The run is shown only to callers who may read its stack (it can be in another
      // space than the pool); for anyone else the worker just looks busy.
      stackyardCurrentRun: async (
        w: { currentRunId?: string | null },
        _: unknown,
        ctx: Ctx,
      ) => {
        if (!w.currentRunId) return null;
        const session = requireSession(ctx);
        let stackId: string;
        try {
          stackId = await deps.runs.stackIdOfRun(session, w.currentRunId);
        } catch (err) {
          if (err instanceof NotFoundError) return null;
          throw err;
        }
        const run = await deps.runs.getRun(session, {
          stackId,
          runId: w.currentRunId,
        });
        return run ? { id: run.id, stackId, state: run.state } : null;
      },
    },

    // A pool is also reached through `Stack.workerPool` by readers of a stack in a
    // space below the pool's: its workers (hosts, metadata) and load are shown only to
    // callers who can read the pool's own space.
    WorkerPool: {
      // The pool token: right after it was issued, else as kept, to pool admins only.
      config: async (p: PoolNode, _a: unknown, ctx: Ctx) => {
        if (p.config) return p.config;
        try {
          await pool(ctx, p.id, "admin");
        } catch {
          return "";
        }
        return workers.poolToken(p.id);
      },
      workers: async (p: WorkerPoolNode, _: unknown, ctx: Ctx) =>
        (await canReadPool(ctx, p))
          ? (await workers.listWorkers(p.id)).map(presentWorker)
          : [],
      busyWorkers: async (p: WorkerPoolNode, _: unknown, ctx: Ctx) =>
        (await canReadPool(ctx, p))
          ? (await workers.listWorkers(p.id)).filter((w) => w.status === "BUSY")
              .length
          : 0,
      pendingRuns: async (p: WorkerPoolNode, _: unknown, ctx: Ctx) =>
        (await canReadPool(ctx, p)) ? deps.runs.pendingRuns(p.id) : 0,
      // The schedulable-runs view (spacectl `workerpool watch`) is not offered yet.
      searchSchedulableRuns: () => ({
        edges: [],
        pageInfo: {
          endCursor: null,
          hasNextPage: false,
          hasPreviousPage: false,
        },
      }),
    },
  };
}
