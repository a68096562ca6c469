#!/usr/bin/env python3
"""fleetlog's /mcp endpoint checked with the reference MCP client: the `mcp` package from
PyPI (`mcp.client.streamable_http` + `ClientSession`), which nobody here wrote.

Run by tests/tests/mcp_e2e.rs against a live collector holding a replayed store fleet:

  python3 tests/mcp/check_mcp.py --base http://127.0.0.1:PORT --admin TOKEN \
      --analyst TOKEN --viewer TOKEN --load TOKEN

It initializes, lists the tools (names and schemas), calls every tool and compares its
answer with the REST API's (same token role, same filters), checks that a viewer cannot
call a tool that changes state, that bad arguments give tool errors (isError) and leave
the session working, that no or a wrong token gets 401, reads the resources and the
prompt, and runs 20 sessions at once. Every tool call is printed as a transcript line:
`>>> tool {arguments}` then `<<< answer` (trimmed). Exit status 1 on any failed check.
"""

import argparse
import asyncio
import contextlib
import json
import sys
import time
import urllib.error
import urllib.request

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

EXPECTED_TOOLS = {
    "get_fleet_health",
    "get_log_analysis_summary",
    "filter_unhealthy_logs",
    "search_logs",
    "list_incidents",
    "get_incident",
    "resolve_incident",
    "suggest_solutions",
    "run_command",
    "train_on_healthy_logs",
    "analyze_s3_logs",
}

FAILURES = []
CHECKS = [0]


def check(cond, what):
    CHECKS[0] += 1
    if not cond:
        FAILURES.append(what)
        print(f"FAIL {what}", flush=True)
    return cond


def trim(value, n=420):
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= n else text[:n] + f"… ({len(text)} chars)"


class Rest:
    def __init__(self, base, token):
        self.base = base
        self.token = token

    def call(self, method, path, body=None, token=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        tok = self.token if token is None else token
        if tok:
            req.add_header("Authorization", f"Bearer {tok}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw)
            except ValueError:
                return err.code, raw.decode(errors="replace")

    def get(self, path):
        status, body = self.call("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body}")
        return body


@contextlib.asynccontextmanager
async def session(url, token):
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as s:
                init = await s.initialize()
                yield s, init


async def call(s, name, args, who="admin", quiet=False):
    t0 = time.monotonic()
    r = await s.call_tool(name, args)
    ms = (time.monotonic() - t0) * 1000
    # The text content is the answer in the order the server wrote it (what a model reads);
    # the checks use the structured content.
    text = " ".join(c.text for c in r.content if getattr(c, "type", "") == "text")
    answer = r.structured_content if r.structured_content is not None else text
    if not quiet:
        print(f">>> [{who}] {name} {json.dumps(args)}", flush=True)
        flag = "isError " if r.is_error else ""
        print(f"<<< {flag}{trim(text)}  ({ms:.0f} ms)", flush=True)
    return r, answer


def error_text(r):
    return " ".join(c.text for c in r.content if getattr(c, "type", "") == "text")


async def tools_and_rest(url, rest, admin):
    async with session(url, admin) as (s, init):
        info = init.server_info
        print(f"initialize: server {info.name} {info.version}, protocol {init.protocol_version}, "
              f"capabilities tools={init.capabilities.tools is not None} "
              f"resources={init.capabilities.resources is not None} "
              f"prompts={init.capabilities.prompts is not None}")
        check(info.name == "fleetlog-collector", "server name")
        check(init.capabilities.tools is not None, "tools capability")
        check(init.capabilities.resources is not None, "resources capability")
        check(init.capabilities.prompts is not None, "prompts capability")
        check(bool(init.instructions), "instructions for the model")

        tools = (await s.list_tools()).tools
        names = {t.name for t in tools}
        print(f"tools/list: {len(tools)} tools")
        for t in tools:
            props = t.input_schema.get("properties", {})
            required = t.input_schema.get("required", [])
            ro = t.annotations.read_only_hint if t.annotations else None
            print(f"  {t.name}({', '.join(p + ('*' if p in required else '') for p in props)})"
                  f" readOnly={ro}: {trim(t.description or '', 110)}")
            check(t.input_schema.get("type") == "object", f"{t.name}: object schema")
            check(len(t.description or "") > 80, f"{t.name}: described")
        check(names == EXPECTED_TOOLS, f"tool names {sorted(names)}")
        check(all("$ref" not in json.dumps(t.input_schema) for t in tools), "schemas inlined")
        schemas = {t.name: t.input_schema for t in tools}
        check("host" in schemas["search_logs"].get("required", []), "search_logs requires host")
        check(schemas["get_incident"].get("required") == ["id"], "get_incident requires id")
        sev = json.dumps(schemas["filter_unhealthy_logs"]["properties"]["severity"])
        check("critical" in sev, "severity enum in the schema")

        # get_fleet_health == GET /api/v1/fleet
        fleet = rest.get("/api/v1/fleet")
        r, a = await call(s, "get_fleet_health", {})
        check(not r.is_error, "get_fleet_health ok")
        check(a["counts"] == fleet["counts"], "fleet counts equal REST")
        check(a["active_incidents"] == fleet["active_incidents"], "active incidents equal REST")
        check([h["name"] for h in a["hosts"]] == [h["name"] for h in fleet["hosts"]][:20],
              "hosts worst first equal REST")
        hosts = [h["name"] for h in fleet["hosts"]]
        r, a = await call(s, "get_fleet_health", {"limit": 1})
        check(len(a["hosts"]) == 1 and a["hosts"][0]["name"] == hosts[0], "fleet page 1")
        if len(hosts) > 1:
            check(a.get("next_cursor") is not None, "fleet next_cursor")
            r, b = await call(s, "get_fleet_health", {"limit": 1, "cursor": a["next_cursor"]})
            check(b["hosts"][0]["name"] == hosts[1], "fleet page 2 is REST's second host")

        # filter_unhealthy_logs == GET /api/v1/events
        ev = rest.get("/api/v1/events?severity=error&limit=5")
        r, a = await call(s, "filter_unhealthy_logs", {"severity": "error", "limit": 5})
        check([e["id"] for e in a["events"]] == [e["id"] for e in ev["events"]],
              "events equal REST")
        check(a.get("next_cursor") == ev.get("next_cursor"), "events cursor equal REST")
        if ev.get("next_cursor"):
            ev2 = rest.get(f"/api/v1/events?severity=error&limit=5&cursor={ev['next_cursor']}")
            r, a2 = await call(s, "filter_unhealthy_logs",
                               {"severity": "error", "limit": 5, "cursor": a["next_cursor"]})
            check([e["id"] for e in a2["events"]] == [e["id"] for e in ev2["events"]],
                  "events page 2 equal REST")
        classed = next((e for e in ev["events"] if e.get("class")), None)
        if classed:
            q = f"host={classed['host']}&class={classed['class']}&from={classed['ts_ms'] - 3600000}&limit=5"
            ev3 = rest.get(f"/api/v1/events?{q}")
            r, a3 = await call(s, "filter_unhealthy_logs", {
                "host": classed["host"], "class": classed["class"],
                "from": classed["ts_ms"] - 3600000, "limit": 5})
            check([e["id"] for e in a3["events"]] == [e["id"] for e in ev3["events"]],
                  "filtered events equal REST")

        # search_logs == GET /api/v1/lines
        host = hosts[0]
        ln = rest.get(f"/api/v1/lines?host={host}&limit=5")
        r, a = await call(s, "search_logs", {"host": host, "limit": 5})
        key = lambda x: (x["seq"], x["line_no"])
        check([key(x) for x in a["lines"]] == [key(x) for x in ln["lines"]], "lines equal REST")
        check(a.get("next_cursor") == ln.get("next_cursor"), "lines cursor equal REST")
        if ln.get("next_cursor"):
            ln2 = rest.get(f"/api/v1/lines?host={host}&limit=5&cursor={ln['next_cursor']}")
            r, a2 = await call(s, "search_logs", {"host": host, "limit": 5, "cursor": a["next_cursor"]})
            check([key(x) for x in a2["lines"]] == [key(x) for x in ln2["lines"]],
                  "lines page 2 equal REST")

        # list_incidents / get_incident == GET /api/v1/incidents[/{id}]
        inc = rest.get("/api/v1/incidents?limit=5")
        r, a = await call(s, "list_incidents", {"limit": 5})
        check([(i["id"], i["status"], i["title"], i["event_count"]) for i in a["incidents"]]
              == [(i["id"], i["status"], i["title"], i["event_count"]) for i in inc["incidents"]],
              "incidents equal REST")
        check(len(inc["incidents"]) > 0, "the scenario opened incidents")
        classes = {c["id"]: c for c in rest.get("/api/v1/classes")["classes"]}
        with_class = next((i for i in inc["incidents"] if i.get("class")), None)
        target = with_class or (inc["incidents"][0] if inc["incidents"] else None)
        if target:
            d = rest.get(f"/api/v1/incidents/{target['id']}")
            r, a = await call(s, "get_incident", {"id": target["id"]})
            mi = a["incident"]
            for f in ("id", "title", "status", "severity", "class", "suggested_fix", "event_count",
                      "host_count", "first_seen_ms", "related"):
                check(mi[f] == d["incident"][f], f"get_incident {f} equal REST")
            check(len(a["timeline"]) == len(d["timeline"]), "timeline equal REST")

            # suggest_solutions: the incident's class and the fix /api/v1/classes shows.
            r, a = await call(s, "suggest_solutions", {"incident_id": target["id"]})
            check(not r.is_error, "suggest_solutions(incident) ok")
            if target.get("class"):
                check(a["class"]["id"] == target["class"], "suggested class is the incident's")
                check(a["class"]["fix"] == classes[target["class"]]["fix"], "fix equals /classes")
                check(a["class"]["fix"] == d["incident"]["suggested_fix"], "fix equals the incident's")
                sample = d["incident"]["samples"][0]["line"] if d["incident"]["samples"] else None
                if sample:
                    r, b = await call(s, "suggest_solutions", {"line": sample})
                    check(b["class"] is not None and b["class"]["id"] == target["class"],
                          "a pasted sample line gets the incident's class")
        r, a = await call(s, "suggest_solutions", {"class": "disk_full"})
        check(a["class"]["fix"] == classes["disk_full"]["fix"], "class fix equals /classes")
        r, a = await call(s, "suggest_solutions",
                          {"line": "2026-11-28T10:00:01Z ERROR write failed: No space left on device"})
        check(a["class"] is not None and a["class"]["id"] == "disk_full", "pasted line → disk_full")
        r, a = await call(s, "suggest_solutions", {"line": "2026-11-28T10:00:01Z INFO sale completed"})
        check(not r.is_error and a["class"] is None, "a healthy line gets no class")

        # get_log_analysis_summary: patterns and incidents as /patterns and /incidents.
        r, a = await call(s, "get_log_analysis_summary", {})
        check(not r.is_error, "summary ok")
        pats = rest.get(f"/api/v1/patterns?from={a['from_ms']}&to={a['to_ms']}&limit=10")
        check([p["fingerprint"] for p in a["patterns"]] == [p["fingerprint"] for p in pats["patterns"]],
              "summary patterns equal REST")
        check([p["count"] for p in a["patterns"]] == [p["count"] for p in pats["patterns"]],
              "summary pattern counts equal REST")
        inc10 = rest.get("/api/v1/incidents?limit=10")
        check([i["id"] for i in a["incidents"]] == [i["id"] for i in inc10["incidents"]],
              "summary incidents equal REST")
        check(a["fleet_health"] == rest.get("/api/v1/fleet")["counts"], "summary health equals REST")
        r, a = await call(s, "get_log_analysis_summary", {"host": host, "from": "3h", "top": 5})
        series = rest.get(f"/api/v1/hosts/{host}/health?from={a['from_ms']}&to={a['to_ms']}&step=60")
        for f in ("lines", "warn", "error", "critical"):
            check(a["volume"][f] == sum(p[f] for p in series["points"]),
                  f"host summary {f} equals the REST series' sum")
        check(a["volume"]["lines"] > 0, "host summary counted lines")
        evh = rest.get(f"/api/v1/events?host={host}&from={a['from_ms']}&to={a['to_ms']}&limit=5")
        check([e["id"] for e in a["recent_events"]] == [e["id"] for e in evh["events"]],
              "host summary events equal REST")

        # run_command == POST /api/v1/commands
        _, st = rest.call("POST", "/api/v1/commands", {"command": "/stat"})
        r, a = await call(s, "run_command", {"command": "/stat"})
        check(a["data"]["hosts"] == st["data"]["hosts"], "/stat hosts equal REST")
        check(a["data"]["lines_received"] == st["data"]["lines_received"], "/stat lines equal REST")
        r, a = await call(s, "run_command", {"command": "/help"})
        check([c["usage"] for c in a["data"]["commands"]] == ["/help", "/stat [host]", "/reload"],
              "/help lists the commands")
        r, a = await call(s, "run_command", {"command": f"/stat {host}"})
        check(a["data"]["scope"] == host, "/stat HOST")
        r, a = await call(s, "run_command", {"command": "/reload"})
        check(not r.is_error, "admin may /reload")

        # Resources and the prompt.
        templates = (await s.list_resource_templates()).resource_templates
        uris = sorted(t.uri_template for t in templates)
        print(f"resources/templates/list: {uris}")
        check(uris == ["fleetlog://hosts/{name}", "fleetlog://incidents/{id}"], "resource templates")
        listed = (await s.list_resources()).resources
        print(f"resources/list: {len(listed)} active incidents, e.g. {[x.uri for x in listed[:3]]}")
        if target:
            res = await s.read_resource(f"fleetlog://incidents/{target['id']}")
            body = json.loads(res.contents[0].text)
            print(f"resources/read fleetlog://incidents/{target['id']}: {trim(res.contents[0].text, 200)}")
            check(body["incident"]["id"] == target["id"], "incident resource")
        res = await s.read_resource(f"fleetlog://hosts/{host}")
        body = json.loads(res.contents[0].text)
        print(f"resources/read fleetlog://hosts/{host}: {trim(res.contents[0].text, 200)}")
        check(body["host"]["name"] == host, "host resource equals REST host")
        check(body["host"] == rest.get(f"/api/v1/hosts/{host}")["host"], "host resource equal REST")
        try:
            await s.read_resource("fleetlog://incidents/99999999")
            check(False, "a missing incident resource is an error")
        except MCPError as err:
            print(f"resources/read fleetlog://incidents/99999999: error {err}")
        prompts = (await s.list_prompts()).prompts
        check([p.name for p in prompts] == ["triage_incident"], "prompts/list")
        if target:
            p = await s.get_prompt("triage_incident", {"incident_id": str(target["id"])})
            text = p.messages[0].content.text
            print(f"prompts/get triage_incident {target['id']}: {trim(text, 300)}")
            check(target["title"] in text and "suggest_solutions" in text, "triage prompt")
        return target


async def roles(url, rest, viewer, analyst):
    inc = rest.get("/api/v1/incidents?status=open&limit=1")["incidents"]
    any_inc = rest.get("/api/v1/incidents?limit=1")["incidents"]
    some_id = (inc or any_inc)[0]["id"]
    async with session(url, viewer) as (s, _):
        r, a = await call(s, "get_fleet_health", {"limit": 2}, who="viewer")
        check(not r.is_error, "a viewer reads")
        r, a = await call(s, "resolve_incident", {"id": some_id}, who="viewer")
        check(r.is_error and "analyst role" in error_text(r), "viewer cannot resolve")
        r, a = await call(s, "run_command", {"command": "/reload"}, who="viewer")
        check(r.is_error and "admin role" in error_text(r), "viewer cannot /reload")
        check(rest.get(f"/api/v1/incidents/{some_id}")["incident"]["status"]
              == (inc or any_inc)[0]["status"], "viewer's calls changed nothing")
    async with session(url, analyst) as (s, _):
        r, a = await call(s, "run_command", {"command": "/reload"}, who="analyst")
        check(r.is_error and "admin role" in error_text(r), "analyst cannot /reload")
        if inc:
            r, a = await call(s, "resolve_incident", {"id": inc[0]["id"]}, who="analyst")
            check(not r.is_error and a["status"] == "resolved", "analyst resolves")
            d = rest.get(f"/api/v1/incidents/{inc[0]['id']}")["incident"]
            check(d["status"] == "resolved" and d["resolved_by"] == "token:analyst",
                  "REST shows it resolved by the analyst's token")
            r, a = await call(s, "resolve_incident", {"id": inc[0]["id"]}, who="analyst")
            check(r.is_error, "resolving twice is a tool error")
        else:
            print("(no open incident left to resolve; resolving a resolved one instead)")
            r, a = await call(s, "resolve_incident", {"id": some_id}, who="analyst")
            check(r.is_error, "resolving a resolved incident is a tool error")


async def training_and_s3(url, rest, analyst, viewer):
    host = rest.get("/api/v1/hosts")["hosts"][0]["name"]
    async with session(url, viewer) as (s, _):
        r, a = await call(s, "train_on_healthy_logs", {"host": host, "from": "3h"}, who="viewer")
        check(r.is_error and "analyst role" in error_text(r), "viewer cannot start training")
        r, a = await call(s, "analyze_s3_logs", {"bucket": "store-logs"}, who="viewer")
        check(r.is_error and "analyst role" in error_text(r), "viewer cannot start a scan")
    async with session(url, analyst) as (s, _):
        r, job = await call(s, "train_on_healthy_logs", {"host": host, "from": "3h"}, who="analyst")
        check(not r.is_error and job["kind"] == "window", "training job started")
        if not r.is_error:
            same = rest.get(f"/api/v1/training/jobs/{job['id']}")
            check(same["id"] == job["id"] and same["spec"]["host"] == host,
                  "REST shows the job the tool started")
            state = job["state"]
            for _ in range(60):
                if state in ("succeeded", "failed", "cancelled"):
                    break
                await asyncio.sleep(1)
                r, job = await call(s, "train_on_healthy_logs", {"job_id": job["id"]},
                                    who="analyst", quiet=True)
                state = job["state"] if not r.is_error else "tool error"
            print(f"<<< training job {job.get('id')} ended {state}, lines read {job.get('lines_read')}, model {job.get('model_id')}")
            check(state == "succeeded", f"the window job succeeded (state {state})")
            check(rest.get(f"/api/v1/training/jobs/{job['id']}")["state"] == state,
                  "the tool's report equals REST's")
        r, a = await call(s, "train_on_healthy_logs", {}, who="analyst")
        check(r.is_error and "host and from" in error_text(r), "training needs a window or a job")
        r, a = await call(s, "train_on_healthy_logs", {"job_id": 1, "host": host}, who="analyst")
        check(r.is_error and "not both" in error_text(r), "job_id and a window conflict")
        r, job = await call(s, "train_on_healthy_logs",
                            {"s3_prefix": "s3://store-logs/known-good/"}, who="analyst")
        check(not r.is_error and job["kind"] == "s3" and job["spec"]["bucket"] == "store-logs"
              and job["spec"]["prefix"] == "known-good/", "S3-prefix training job queued")
        r, a = await call(s, "train_on_healthy_logs", {"s3_prefix": "store-logs/known-good/"},
                          who="analyst")
        check(r.is_error and "s3://" in error_text(r), "an s3_prefix without s3:// is a tool error")
        r, scan = await call(s, "analyze_s3_logs",
                             {"bucket": "store-logs", "prefix": "alb/", "from": "24h"},
                             who="analyst")
        check(not r.is_error and scan["bucket"] == "store-logs", "scan queued")
        if not r.is_error:
            r, rep = await call(s, "analyze_s3_logs", {"scan_id": scan["id"]}, who="analyst")
            same = rest.get(f"/api/v1/s3/scans/{scan['id']}")
            check(not r.is_error and rep["scan"]["id"] == same["scan"]["id"]
                  and rep["scan"]["prefix"] == "alb/", "the tool's scan report equals REST's")
        r, a = await call(s, "analyze_s3_logs", {"bucket": "Not A Bucket!"}, who="analyst")
        check(r.is_error and "bucket" in error_text(r), "a bad bucket name is a tool error")
        r, a = await call(s, "analyze_s3_logs", {"scan_id": 987654}, who="analyst")
        check(r.is_error, "an unknown scan is a tool error")


async def bad_arguments(url, admin):
    cases = [
        ("filter_unhealthy_logs", {"limit": 0}, "limit"),
        ("filter_unhealthy_logs", {"limit": 100000}, "limit"),
        ("filter_unhealthy_logs", {"severity": "loud"}, "severity"),
        ("filter_unhealthy_logs", {"bogus": 1}, "bogus"),
        ("filter_unhealthy_logs", {"from": "yesterday"}, "from"),
        ("filter_unhealthy_logs", {"cursor": "nope"}, "cursor"),
        ("filter_unhealthy_logs", {"from": 2000, "to": 1000}, "earlier"),
        ("get_incident", {"id": "abc"}, "id"),
        ("get_incident", {"id": 99999999}, "not found"),
        ("search_logs", {}, "host"),
        ("search_logs", {"host": "no-such-host"}, "not found"),
        ("suggest_solutions", {}, "exactly one"),
        ("suggest_solutions", {"class": "no_such_class"}, "disk_full"),
        ("get_log_analysis_summary", {"top": 500}, "top"),
        ("get_fleet_health", {"state": "on_fire"}, "state"),
        ("run_command", {"command": "/rm -rf"}, "unknown command"),
    ]
    async with session(url, admin) as (s, _):
        for name, args, needle in cases:
            r, a = await call(s, name, args)
            check(r.is_error and needle.lower() in error_text(r).lower(),
                  f"{name} {args}: tool error naming {needle}")
        try:
            await s.call_tool("drop_tables", {})
            check(False, "an unknown tool is a protocol error")
        except MCPError as err:
            print(f">>> [admin] drop_tables {{}}\n<<< protocol error: {err}")
        r, a = await call(s, "get_fleet_health", {"limit": 1})
        check(not r.is_error, "the session still works after bad arguments")


def http_auth(base):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}}).encode()
    for label, token in (("no token", None), ("wrong token", "flt_nope_nope"),
                         ("malformed header", "")):
        req = urllib.request.Request(base + "/mcp", data=body, method="POST")
        req.add_header("Content-Type", "application/json")
        req.add_header("Accept", "application/json, text/event-stream")
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}" if token else "Basic eDp5")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status = resp.status
        except urllib.error.HTTPError as err:
            status = err.code
        print(f"POST /mcp initialize with {label}: HTTP {status}")
        check(status == 401, f"{label} → 401")


async def concurrent(url, rest, token, n=20):
    fleet = rest.get("/api/v1/fleet")

    async def one(i):
        async with session(url, token) as (s, _):
            r, a = await call(s, "get_fleet_health", {"limit": 3}, quiet=True)
            r2, b = await call(s, "filter_unhealthy_logs", {"limit": 3}, quiet=True)
            return (not r.is_error and a["counts"] == fleet["counts"]
                    and not r2.is_error and len(b["events"]) > 0)

    t0 = time.monotonic()
    results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    secs = time.monotonic() - t0
    good = sum(1 for r in results if r is True)
    errors = [repr(r) for r in results if r is not True]
    print(f"{n} concurrent sessions (initialize + 2 tool calls each): {good}/{n} correct "
          f"in {secs:.2f} s{'; ' + trim(errors, 300) if errors else ''}")
    check(good == n, f"{n} concurrent sessions all correct")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--admin", required=True)
    ap.add_argument("--analyst", required=True)
    ap.add_argument("--viewer", required=True)
    ap.add_argument("--load", required=True)
    args = ap.parse_args()
    url = args.base + "/mcp"
    rest = Rest(args.base, args.admin)
    print("== tools against the REST API (admin token)")
    await tools_and_rest(url, rest, args.admin)
    print("== roles (viewer, analyst tokens)")
    await roles(url, rest, args.viewer, args.analyst)
    print("== training and S3 (analyst, viewer tokens)")
    await training_and_s3(url, rest, args.analyst, args.viewer)
    print("== bad arguments")
    await bad_arguments(url, args.admin)
    print("== HTTP auth")
    http_auth(args.base)
    print("== concurrency")
    await concurrent(url, rest, args.load)
    print(f"== {CHECKS[0] - len(FAILURES)}/{CHECKS[0]} checks passed")
    if FAILURES:
        print("FAILED: " + "; ".join(FAILURES))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
