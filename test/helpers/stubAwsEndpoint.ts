/**
 * A stand-in for LocalStack's edge endpoint that goes only as far as a deploy
 * can without it: it answers the health check and STS GetCallerIdentity
 * (account 000000000000), and refuses every other request with an error in the
 * caller's protocol whose message starts with `tidewatch-stub:`. It records
 * each request: the service, region and access key from the SigV4
 * Authorization header, the Host header, the path and the action, so a test
 * can see where the CDK CLI sent what.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubRequest {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  /** From the credential scope of the Authorization header, e.g. `sts`, `cloudformation`, `s3`; empty when unsigned. */
  readonly service: string;
  readonly region: string;
  readonly accessKeyId: string;
  /** `Action=` of a query-protocol request, or the `X-Amz-Target` of a JSON one. */
  readonly action: string;
  readonly body: string;
}

export interface StubAwsEndpoint {
  /** `http://localhost:<port>`: a host name, not an IP, so that S3 addressing is put to the test. */
  readonly url: string;
  readonly requests: StubRequest[];
  close(): Promise<void>;
}

export const STUB_ERROR = 'tidewatch-stub: this endpoint is not LocalStack and stops here';

const CREDENTIAL = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/;

function record(req: IncomingMessage, body: string): StubRequest {
  const m = CREDENTIAL.exec(req.headers.authorization ?? '');
  const target = req.headers['x-amz-target'];
  const action = typeof target === 'string' ? target : (new URLSearchParams(body).get('Action') ?? '');
  return {
    method: req.method ?? '',
    host: req.headers.host ?? '',
    path: req.url ?? '',
    accessKeyId: m?.[1] ?? '',
    region: m?.[2] ?? '',
    service: m?.[3] ?? '',
    action,
    body,
  };
}

function answer(r: StubRequest, res: ServerResponse): void {
  if (r.path.startsWith('/_localstack/health')) {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"services":{},"edition":"tidewatch-stub"}');
  } else if (r.action === 'GetCallerIdentity') {
    res
      .writeHead(200, { 'content-type': 'text/xml' })
      .end(
        '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>' +
          '<Arn>arn:aws:iam::000000000000:root</Arn><UserId>000000000000</UserId><Account>000000000000</Account>' +
          '</GetCallerIdentityResult><ResponseMetadata><RequestId>stub</RequestId></ResponseMetadata></GetCallerIdentityResponse>',
      );
  } else if (r.action.includes('.')) {
    // JSON protocols (X-Amz-Target: AmazonSSM.GetParameter, ...)
    res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': 'AccessDeniedException' }).end(JSON.stringify({ __type: 'AccessDeniedException', message: STUB_ERROR }));
  } else if (r.action !== '') {
    // query protocol (STS, CloudFormation)
    res.writeHead(403, { 'content-type': 'text/xml' }).end(`<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>${STUB_ERROR}</Message></Error><RequestId>stub</RequestId></ErrorResponse>`);
  } else {
    // REST-XML (S3)
    res.writeHead(403, { 'content-type': 'application/xml' }).end(`<Error><Code>AccessDenied</Code><Message>${STUB_ERROR}</Message><RequestId>stub</RequestId></Error>`);
  }
}

export async function startStubAwsEndpoint(): Promise<StubAwsEndpoint> {
  const requests: StubRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = record(req, Buffer.concat(chunks).toString('utf8'));
      requests.push(r);
      answer(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
