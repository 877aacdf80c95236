// Gemini on Vertex AI through @google/genai against the fake server: the SDK's Vertex URL
// (project, location, publisher model), an OAuth bearer token from google-auth-library
// instead of an API key, and the config that selects it (GOOGLE_GENAI_USE_VERTEXAI).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OAuth2Client } from 'google-auth-library';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TranscriptItem } from '../../../src/agent/planner.js';
import { loadConfig } from '../../../src/app/config.js';
import { createGeminiPlanner, createPlannerFromConfig, resolveProvider } from '../../../src/planners/index.js';
import { toolSpecs } from '../../../tools/tool-schema.js';
import { silentLogger } from '../../../src/logger.js';
import { allTools } from '../../../tools/index.js';
import {
  errorReply,
  functionCallReply,
  startFakeGeminiServer,
  type FakeGeminiServer,
} from '../../support/fake-gemini-server.js';

const tools = toolSpecs(allTools);
const trigger: TranscriptItem = {
  kind: 'trigger',
  trigger: 'chat',
  text: 'Which version of credit-risk is champion?',
  data: {},
};

let server: FakeGeminiServer;
beforeEach(async () => {
  server = await startFakeGeminiServer();
});
afterEach(async () => server.close());

/** Credentials as application default credentials would give them: an OAuth client holding a live access token. */
function tokenClient(): OAuth2Client {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: 'ya29.vertex-test-token', expiry_date: Date.now() + 3_600_000 });
  return client;
}

describe('Gemini on Vertex AI', () => {
  it("sends generateContent to the project's publisher model in its location, with a bearer token and no API key", async () => {
    server.script(functionCallReply([{ name: 'registry_query', args: { action: 'list_models' } }]));
    const planner = createGeminiPlanner({
      vertex: { project: 'risk-ml-prod', location: 'europe-west4', googleAuthOptions: { authClient: tokenClient() } },
      model: 'gemini-2.5-flash',
      baseUrl: server.baseUrl,
      timeoutMs: 5000,
      maxRetries: 0,
      retryBaseDelayMs: 1,
    });
    expect(planner.name).toBe('gemini:gemini-2.5-flash@vertex:europe-west4');
    const turn = await planner.next({
      runId: 'r',
      systemPrompt: 'You are the MLOps agent.',
      transcript: [trigger],
      tools,
    });
    expect(turn).toMatchObject({ kind: 'calls', calls: [{ name: 'registry_query', args: { action: 'list_models' } }] });
    const request = server.requests[0]!;
    expect(request.path).toBe(
      '/v1beta1/projects/risk-ml-prod/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent',
    );
    expect(request.headers.authorization).toBe('Bearer ya29.vertex-test-token');
    expect(request.headers['x-goog-api-key']).toBeUndefined();
    expect(request.body.tools[0].functionDeclarations.map((d: { name: string }) => d.name)).toEqual(
      tools.map((t) => t.name),
    );
  });

  it('points at the credentials and the project on a 403', async () => {
    server.script(errorReply(403, 'Permission aiplatform.endpoints.predict denied'));
    const planner = createGeminiPlanner({
      vertex: { project: 'risk-ml-prod', location: 'europe-west4', googleAuthOptions: { authClient: tokenClient() } },
      model: 'm',
      baseUrl: server.baseUrl,
      timeoutMs: 5000,
      maxRetries: 0,
      retryBaseDelayMs: 1,
    });
    await expect(planner.next({ runId: 'r', systemPrompt: 's', transcript: [trigger], tools })).rejects.toThrow(
      /HTTP 403 PERMISSION_DENIED \(check application default credentials: .* may use Vertex AI in project risk-ml-prod\): Permission aiplatform.endpoints.predict denied/,
    );
  });

  it('is chosen by GOOGLE_GENAI_USE_VERTEXAI with GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION, and refused without a location', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'vertex-config-'));
    try {
      const config = loadConfig({
        cwd,
        env: {
          GOOGLE_GENAI_USE_VERTEXAI: 'true',
          GOOGLE_CLOUD_PROJECT: 'risk-ml-prod',
          GOOGLE_CLOUD_LOCATION: 'europe-west4',
        },
      });
      expect(config.llm).toMatchObject({
        vertexai: true,
        vertexProject: 'risk-ml-prod',
        vertexLocation: 'europe-west4',
      });
      expect(resolveProvider(config.llm)).toBe('gemini');
      const planner = createPlannerFromConfig(config.llm, {
        logger: silentLogger,
        runbookPlanner: () => {
          throw new Error('not used');
        },
      });
      expect(planner.name).toBe('gemini:gemini-2.5-flash@vertex:europe-west4');
      const noLocation = loadConfig({
        cwd,
        env: { GOOGLE_GENAI_USE_VERTEXAI: 'true', GOOGLE_CLOUD_PROJECT: 'risk-ml-prod' },
      });
      expect(() =>
        createPlannerFromConfig(noLocation.llm, {
          logger: silentLogger,
          runbookPlanner: () => {
            throw new Error('not used');
          },
        }),
      ).toThrow(
        'Gemini on Vertex AI needs a location, e.g. europe-west4: set GOOGLE_CLOUD_LOCATION or llm.vertexLocation',
      );
      expect(() => loadConfig({ cwd, env: { GOOGLE_GENAI_USE_VERTEXAI: 'yes' } })).toThrow(
        /llm\.vertexai \(env GOOGLE_GENAI_USE_VERTEXAI\): true or false/,
      );
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
