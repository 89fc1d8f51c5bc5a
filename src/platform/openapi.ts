/**
 * OpenAPI 3 generated from the registry: every action with `rest` becomes an operation, its
 * fastest-validator `params` become the request schema. Nothing is written by hand per route.
 */
import type { ServiceBroker } from "moleculer";

type FvRule = string | { type?: string; optional?: boolean; items?: FvRule; props?: Record<string, FvRule>; enum?: unknown[]; min?: number; max?: number; length?: number; values?: unknown[] } | FvRule[];

function toJsonSchema(rule: FvRule): Record<string, unknown> {
  if (Array.isArray(rule)) return { oneOf: rule.map(toJsonSchema) };
  const given = typeof rule === "string" ? { type: rule.split("|")[0] } : rule;
  // fastest-validator's `length` is an exact size: both bounds.
  const r = given.length !== undefined ? { ...given, min: given.length, max: given.length } : given;
  const type = r.type ?? "any";
  switch (type) {
    case "string":
    case "email":
    case "url":
    case "uuid":
    case "date":
      return { type: "string", ...(type !== "string" ? { format: type === "date" ? "date-time" : type } : {}), ...(r.min !== undefined ? { minLength: r.min } : {}), ...(r.max !== undefined ? { maxLength: r.max } : {}) };
    case "number":
      return { type: "number", ...(r.min !== undefined ? { minimum: r.min } : {}), ...(r.max !== undefined ? { maximum: r.max } : {}) };
    case "boolean":
      return { type: "boolean" };
    case "enum":
      return { enum: r.values ?? [] };
    case "array":
      return { type: "array", ...(r.items ? { items: toJsonSchema(r.items) } : {}) };
    case "object":
      return r.props ? objectSchema(r.props) : { type: "object" };
    default:
      return {};
  }
}

function objectSchema(props: Record<string, FvRule>): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const [name, rule] of Object.entries(props)) {
    if (name.startsWith("$$")) continue;
    properties[name] = toJsonSchema(rule);
    const optional = typeof rule === "object" && !Array.isArray(rule) && (rule.optional || (rule as { default?: unknown }).default !== undefined);
    const optionalStr = typeof rule === "string" && rule.includes("optional");
    if (!optional && !optionalStr) required.push(name);
  }
  return { type: "object", properties, ...(required.length ? { required } : {}) };
}

/**
 * `served`: the actions the gateway has routes for right now. The spec documents what is served,
 * not what the registry knows: right after a node joins, its routes appear a moment later.
 */
export function buildOpenApi(broker: ServiceBroker, served?: Set<string>): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const services = broker.registry.getServiceList({ withActions: true, grouping: true }) as Array<{
    name: string;
    actions: Record<string, { rest?: string | string[]; params?: Record<string, FvRule>; auth?: string; roles?: string[]; description?: string }>;
  }>;
  const seen = new Set<string>();
  for (const svc of services) {
    if (seen.has(svc.name)) continue;
    seen.add(svc.name);
    for (const [name, action] of Object.entries(svc.actions ?? {})) {
      if (!action.rest || (served && !served.has(name))) continue;
      for (const rest of Array.isArray(action.rest) ? action.rest : [action.rest]) {
        if (typeof rest !== "string" || !rest.includes(" ")) continue;
        const [method, rawPath] = rest.split(/\s+/);
        const pathParams = [...rawPath.matchAll(/:(\w+)/g)].map((m) => m[1]);
        const apiPath = "/api" + rawPath.replace(/:(\w+)/g, "{$1}");
        const params = action.params ?? {};
        const bodyProps = Object.fromEntries(Object.entries(params).filter(([k]) => !pathParams.includes(k)));
        const op: Record<string, unknown> = {
          operationId: name,
          tags: [svc.name],
          summary: action.description ?? name,
          parameters: pathParams.map((p) => ({ name: p, in: "path", required: true, schema: { type: "string" } })),
          responses: { default: { description: "See shared/API.md; errors use {error: {code, message, details}}" } },
        };
        if ((action.auth ?? "required") === "required") op.security = [{ bearer: [] }];
        if (action.roles?.length) op["x-roles"] = action.roles;
        if (["POST", "PUT", "PATCH"].includes(method.toUpperCase())) {
          op.requestBody = { content: { "application/json": { schema: objectSchema(bodyProps) } } };
        } else {
          (op.parameters as unknown[]).push(
            ...Object.entries(bodyProps).map(([k, rule]) => ({ name: k, in: "query", required: false, schema: toJsonSchema(rule) })),
          );
        }
        paths[apiPath] = { ...(paths[apiPath] ?? {}), [method.toLowerCase()]: op };
      }
    }
  }
  return {
    openapi: "3.0.3",
    info: { title: "TicketFlash API", version: "0.1.0", description: "Generated from the services' action schemas." },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
    paths,
  };
}

/** A dependency-free browsable page for the spec. */
export function openApiPage(specUrl: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>TicketFlash API</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem;max-width:960px}code{background:#f3f3f3;padding:0 .3em}
details{border:1px solid #ddd;border-radius:6px;margin:.4rem 0;padding:.4rem .8rem}summary{cursor:pointer}
.m{display:inline-block;width:4.5em;font-weight:bold}pre{background:#f7f7f7;padding:.6rem;overflow:auto}</style></head>
<body><h1>TicketFlash API</h1><p>Spec: <a href="${specUrl}">${specUrl}</a></p><div id="ops">Loading…</div>
<script>
fetch(${JSON.stringify(specUrl)}).then(r=>r.json()).then(spec=>{
  const root=document.getElementById('ops');root.textContent='';
  for(const [p,ops] of Object.entries(spec.paths).sort()){for(const [m,op] of Object.entries(ops)){
    const d=document.createElement('details');const s=document.createElement('summary');
    const b=document.createElement('span');b.className='m';b.textContent=m.toUpperCase();s.append(b,document.createTextNode(' '+p+(op.security?'  🔒':'')));
    const pre=document.createElement('pre');pre.textContent=JSON.stringify({parameters:op.parameters,requestBody:op.requestBody,roles:op['x-roles']},null,2);
    d.append(s,pre);root.append(d);}}
});
</script></body></html>`;
}
