/**
 * Import cycles are refused in the server and the launcher (`npm run lint:imports`, part
 * of `npm run lint`). Type-only imports count: a type cycle is still two files that
 * cannot be read, changed or moved one without the other. Tests are left out (a test may
 * import anything it exercises).
 *
 * One edge is not followed: api/generated/resolvers.ts (GraphQL Code Generator output)
 * imports the presenter types its resolvers receive (codegen.ts `mappers`), and those
 * presenters are typed with its enums; that type-level loop is how the generated
 * `Resolvers` check the presenters against the SDL, so the generated file is a leaf here.
 */
export default {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment:
        "Imports point one way (docs/architecture.md); break the cycle by moving what both sides need into a file both import.",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: ["node_modules", "^apps/server/src/api/generated/"] },
    exclude: { path: "\\.test\\.ts$" },
  },
};
