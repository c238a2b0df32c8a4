/**
 * Attack: a webhook notification's `text` is posted as is to a Slack or
 * Mattermost channel, and a request's identity and client ID are a
 * stranger's text (anyone may enqueue). `<!channel>`, `<!here>` and
 * `<https://evil|Approve>` are Slack's control sequences for "notify
 * everyone" and a link showing other text; `@channel`, `@here` and
 * `[Approve](https://evil)` are Mattermost's. Passed through, they let an
 * unauthenticated peer page the whole channel and put a disguised link to a
 * site of theirs in a message the daemon signs with its name.
 */
import assert from "node:assert/strict";
import { startTestDaemon } from "../_support/daemon.ts";
import { apiFor } from "../_support/api.ts";
import { withTempDir } from "../_support/temp.ts";
import { until } from "../_support/until.ts";
import { startWebhookReceiver } from "../_support/webhook_receiver.ts";

const INJECTED = "<!channel> <!here> <https://evil.example/approve|Approve> " +
  "@channel @here @all [Approve](https://evil.example/approve) `x` &lt;";

/** `text` with its inline code spans taken out: what Slack and Mattermost act on. */
function outsideCode(text: string): string {
  return text.replace(/`[^`]*`/g, "");
}

Deno.test("attack: a requester's identity and client ID cannot mention the channel or add a link in a notification's text", async () => {
  const receiver = await startWebhookReceiver({ plain: true });
  try {
    await withTempDir(async (dir) => {
      const daemon = await startTestDaemon({
        dir,
        log: () => {},
        extraConfig: `TOKEND_NOTIFY_URL = ${receiver.url}`,
      });
      const api = apiFor(daemon);
      try {
        const identity = "<!channel>[x](https://evil.example)@here";
        const enqueued = await api.enqueue({ identity, clientId: INJECTED });
        assert.equal(enqueued.status, 201, JSON.stringify(enqueued.body));
        await until("the pending event", () => receiver.delivered.length >= 1);
        const p = receiver.delivered[0].payload;
        // The fields keep the exact bytes; only the chat line is made inert.
        assert.equal(p.clientId, INJECTED);
        assert.equal(p.requestedIdentity, identity);
        const text = String(p.text);
        assert.doesNotMatch(text, /[<>]/, text);
        const rest = outsideCode(text);
        assert.doesNotMatch(rest, /@(channel|here|all)\b|\]\(|https?:|&lt;/, rest);
        // What the requester sent is still there to read, inside code spans.
        assert.ok(text.includes("`&lt;!channel&gt;[x](https://evil.example)@here`"), text);
      } finally {
        api.close();
        await daemon.close();
      }
    });
  } finally {
    await receiver.close();
  }
});
