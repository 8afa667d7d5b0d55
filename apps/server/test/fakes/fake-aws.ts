import http from "node:http";
import type { AddressInfo } from "node:net";
import { startFakeKms, type FakeKms } from "./fake-kms.ts";
import {
  startFakeSqs,
  STACKYARD_FAKE_QUEUES,
  type FakeSqs,
} from "./fake-sqs.ts";

/**
 * One endpoint for both fakes, as STACKYARD_AWS_ENDPOINT_URL gives one endpoint to both
 * clients (like LocalStack): requests are forwarded by their `X-Amz-Target` service
 * prefix, TrentService to the fake KMS and AmazonSQS to the fake SQS.
 */
export interface FakeAws {
  url: string;
  kms: FakeKms;
  sqs: FakeSqs;
  close(): Promise<void>;
}

export async function startFakeAws(): Promise<FakeAws> {
  const kms = await startFakeKms();
  const sqs = await startFakeSqs({ queues: STACKYARD_FAKE_QUEUES });
  const server = http.createServer((req, res) => {
    const target = String(req.headers["x-amz-target"] ?? "");
    const upstream = new URL(
      target.startsWith("TrentService.") ? kms.url : sqs.url,
    );
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on("error", (err) => {
      res.writeHead(502);
      res.end(String(err));
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    kms,
    sqs,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await kms.close();
      await sqs.close();
    },
  };
}
