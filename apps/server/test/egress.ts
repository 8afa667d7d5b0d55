import { createEgressGuard } from "../src/platform/http/egress.ts";

/**
 * The egress guard as configured with `STACKYARD_EGRESS_ALLOW=127.0.0.0/8,::1/128`:
 * what tests pass wherever the server calls fake GitHub and GitLab servers on loopback.
 */
export const loopbackEgress = createEgressGuard({
  allow: ["127.0.0.0/8", "::1/128"],
});
