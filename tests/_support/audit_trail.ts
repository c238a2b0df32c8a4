/** Reading a test daemon's audit trail straight from its database. */
import { DatabaseSync } from "node:sqlite";

/** One row of the audit table. */
export interface AuditRow {
  event: string;
  request_id: string | null;
  detail: string;
}

/** The audit table in order, read-only from `stateDirectory`/tokend.sqlite. Needs --allow-read. */
export function readAuditTrail(stateDirectory: string): AuditRow[] {
  const db = new DatabaseSync(`${stateDirectory}/tokend.sqlite`, { readOnly: true });
  try {
    return db.prepare("SELECT event, request_id, detail FROM audit ORDER BY seq")
      .all() as unknown as AuditRow[];
  } finally {
    db.close();
  }
}
