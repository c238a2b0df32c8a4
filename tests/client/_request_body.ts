/** A request body for the daemon client tests: fixed fields, a fresh secret. */

/** A request body with a fresh secret. */
export function requestBody(overrides: Record<string, unknown> = {}) {
  return {
    identity: "alice@tokend-test.example.org",
    authz: [] as string[],
    lifetime: null as number | null,
    clientId: "test-1",
    secret: crypto.randomUUID() + crypto.randomUUID(),
    ...overrides,
  };
}
