/**
 * A PostgreSQL database of its own for each test: created with a unique
 * name through the server's `postgres` database and dropped afterwards
 * (connections still open are cut). The server is the one this machine and
 * CI run (127.0.0.1:5432, trust authentication); CONDOR_TOKEN_TEST_PG names
 * another admin URL. A server that is down fails the test at once with a
 * line saying so, never a hang.
 */
import postgres from "postgres";

/** The admin connection's URL (a database the test user may CREATE DATABASE from). */
export const ADMIN_URL = Deno.env.get("CONDOR_TOKEN_TEST_PG") ??
  "postgresql://postgres@127.0.0.1:5432/postgres";

/** A fresh, empty database: its URL, and how to drop it. */
export interface TestDatabase {
  url: string;
  /** Drops the database, cutting connections still open. */
  drop(): Promise<void>;
}

/**
 * Creates a database with a unique name (also for benchmarks). Throws an
 * Error saying PostgreSQL is needed when the server cannot be used.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `condor_token_test_${crypto.randomUUID().replaceAll("-", "")}`;
  await admin(async (sql) => {
    try {
      await sql.unsafe(`CREATE DATABASE ${name}`);
    } catch (err) {
      throw new Error(
        `PostgreSQL is needed for this test and cannot be used at ${ADMIN_URL} (${
          (err as Error).message
        }); start it (pg_ctlcluster 15 main start) or set CONDOR_TOKEN_TEST_PG`,
      );
    }
  });
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    drop: () => admin((sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}

/** Runs `fn` with the URL of a fresh, empty database, dropped afterwards. */
export async function withTestDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const database = await createTestDatabase();
  try {
    return await fn(database.url);
  } finally {
    await database.drop();
  }
}

/** Runs `fn` on a connection to the admin database, closed afterwards. */
async function admin(fn: (sql: postgres.Sql) => Promise<unknown>): Promise<void> {
  const sql = postgres(ADMIN_URL, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await fn(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** Runs one statement on the database at `url` (a connection of its own, closed at once). */
export async function runSql(url: string, text: string): Promise<Record<string, unknown>[]> {
  const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    return [...await sql.unsafe(text)];
  } finally {
    await sql.end({ timeout: 2 });
  }
}
