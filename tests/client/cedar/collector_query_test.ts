import assert from "node:assert/strict";
import {
  daemonAdOf,
  daemonQuery,
  QUERY_ANY_ADS,
  readQueryReply,
} from "../../../src/client/cedar/collector_query.ts";
import type { ClassAd } from "../../../src/client/cedar/classad.ts";
import { MessageReader, MessageWriter } from "../../../src/client/cedar/packet_stream.ts";

Deno.test("daemonQuery() asks with the type's own command and ad type, and a name constraint", () => {
  assert.deepEqual(daemonQuery({ type: "SCHEDD", name: "submit.example.org" }), {
    command: 6,
    ad: [
      ["MyType", "Query"],
      ["TargetType", "Scheduler"],
      ["Requirements", { expr: '(Name == "submit.example.org")' }],
    ],
  });
  assert.equal(daemonQuery({ type: "COLLECTOR" }).command, 20);
  assert.equal(daemonQuery({ type: "MASTER" }).command, 7);
  assert.equal(daemonQuery({ type: "STARTD" }).command, 5);
});

Deno.test("daemonQuery() asks for any ad, constrained by MyType, for other types and none", () => {
  assert.deepEqual(daemonQuery({}), {
    command: QUERY_ANY_ADS,
    ad: [["MyType", "Query"], ["TargetType", "Any"], ["Requirements", { expr: "true" }]],
  });
  assert.deepEqual(daemonQuery({ type: "GRIDMANAGER" }).ad[2], [
    "Requirements",
    { expr: '(MyType == "GRIDMANAGER")' },
  ]);
});

Deno.test("daemonQuery() escapes a quote in the name", () => {
  assert.deepEqual(daemonQuery({ type: "SCHEDD", name: 'a"b' }).ad[2], [
    "Requirements",
    { expr: '(Name == "a\\"b")' },
  ]);
});

Deno.test("readQueryReply() reads [int 1][ad] per daemon until [int 0]", () => {
  const body = new MessageWriter(true)
    .int(1).classAd([["MyType", "Collector"], ["Name", "cm"], ["MyAddress", "<10.0.0.1:9618>"]])
    .int(1).classAd([["MyType", "DaemonMaster"], ["Name", "cm"]])
    .int(0)
    .bytes();
  const ads = readQueryReply(new MessageReader(body, true, "cm:9618"));
  assert.equal(ads.length, 2);
  assert.equal(ads[1].get("MyType"), "DaemonMaster");
});

Deno.test("daemonAdOf() maps ad types to daemon types and keeps the sinful address", () => {
  const ad = (entries: [string, string][]): ClassAd => new Map(entries);
  assert.deepEqual(
    daemonAdOf(ad([["MyType", "Scheduler"], ["Name", "s@h"], [
      "MyAddress",
      "<10.0.0.2:9618?addrs=10.0.0.2-9618&alias=h&sock=schedd_1_2>",
    ]])),
    {
      name: "s@h",
      type: "SCHEDD",
      address: "<10.0.0.2:9618?addrs=10.0.0.2-9618&alias=h&sock=schedd_1_2>",
    },
  );
  assert.equal(
    daemonAdOf(ad([["MyType", "Machine"], ["Name", "slot1@h"], ["MyAddress", "<1.2.3.4:1>"]]))
      ?.type,
    "STARTD",
  );
  assert.equal(daemonAdOf(ad([["MyType", "Scheduler"], ["Name", "s"]])), undefined);
});
