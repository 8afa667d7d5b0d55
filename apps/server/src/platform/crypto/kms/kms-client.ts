import { KMSClient } from "@aws-sdk/client-kms";

/**
 * The KMS client for both keys. Credentials come from the AWS default chain; `endpoint`
 * (STACKYARD_AWS_ENDPOINT_URL / AWS_ENDPOINT_URL) points it at a KMS-compatible service.
 */
export function createKmsClient(opts: {
  region: string;
  endpoint?: string | null;
}): KMSClient {
  return new KMSClient({
    region: opts.region,
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
  });
}
