import { describe, expect, it } from 'vitest';
import { publicMessage, redactPaths } from '../../../src/public-message.js';
import { UpstreamError } from '../../../src/errors.js';

describe('error text for models and clients', () => {
  it('names files by their name, never by absolute path', () => {
    expect(
      redactPaths(
        'dataset "credit-recent" not found (looked for /home/ops/.mlops-agent/lab/datasets/credit-recent.csv)',
      ),
    ).toBe('dataset "credit-recent" not found (looked for credit-recent.csv)');
    expect(
      redactPaths(
        "ENOENT: no such file or directory, open '/var/lib/mlops-agent/approvals/apr_mx5q2k1a_3f9c0d12.json'",
      ),
    ).toBe("ENOENT: no such file or directory, open 'apr_mx5q2k1a_3f9c0d12.json'");
    expect(redactPaths('timed out waiting for lock /srv/x/lab/registry/credit-risk.lock (held by {"pid":1})')).toBe(
      'timed out waiting for lock credit-risk.lock (held by {"pid":1})',
    );
    expect(redactPaths('writing under /tmp/mlops-1/lab/deployments/ failed')).toBe('writing under deployments failed');
    expect(
      publicMessage(
        new UpstreamError('audit', 'cannot write audit log /data/audit.jsonl: ENOSPC', { retryable: false }),
      ),
    ).toBe('audit: cannot write audit log audit.jsonl: ENOSPC');
  });

  it('leaves URLs, our own routes, relative paths and plain text as they are', () => {
    for (const text of [
      'decide it over HTTP (POST /v1/approvals/apr_x_00000000/decision) or in Slack',
      'cannot reach http://127.0.0.1:8080/v1/runs (ECONNREFUSED)',
      'see prompts/runbooks/drift-retrain.md',
      'traffic 5/25/100 and a ratio 3/4',
      'GET /mcp needs a session; /healthz is open',
    ]) {
      expect(redactPaths(text)).toBe(text);
    }
  });
});
