/**
 * Session routing: every call of a session-keyed action reaches the one node that owns the
 * session, chosen by rendezvous (highest random weight) hashing of the sessionId over the nodes
 * that run the `seats` service. When a node joins or leaves, only the sessions it wins or held
 * move (about 1/n of them); Moleculer's Shard strategy reshuffles far more.
 *
 * Why a call middleware that picks `nodeID`, and not a strategy: Moleculer 0.14's EndpointList
 * answers from a local endpoint before it asks any strategy when `registry.preferLocal` is on
 * (it is, for the stateless services), so a node hosting `seats` would serve every session
 * itself. A direct call (`opts.nodeID`) bypasses the balancer entirely, and the Retry middleware
 * re-enters `broker.call`, so every retry is routed afresh on the current membership.
 *
 * Actions opt in by declaring `sessionKey: "sessionId"`; the declaration travels with the
 * service's INFO packet, so any node (a gateway, the REPL) routes correctly without loading the
 * seats service. A call without the key is refused, never sent to a random node.
 */
import { Errors, Middleware, ServiceBroker } from "moleculer";

/** The action whose endpoints say which nodes run the seat actors. */
const PROBE_ACTION = "seats.hold";

interface Endpoint {
  id: string;
  isAvailable: boolean;
  action?: { name?: string; sessionKey?: string };
}

function endpoints(broker: ServiceBroker, action: string): Endpoint[] {
  const list = (broker.registry as unknown as { getActionEndpoints(name: string): { endpoints: Endpoint[] } | undefined }).getActionEndpoints(action);
  return list?.endpoints ?? [];
}

/** Nodes that serve an action right now. */
export function nodesWith(broker: ServiceBroker, action: string): string[] {
  return [...new Set(endpoints(broker, action).filter((ep) => ep.isAvailable).map((ep) => ep.id))];
}

/** Nodes that can own sessions right now. */
export function seatNodes(broker: ServiceBroker): string[] {
  return nodesWith(broker, PROBE_ACTION);
}

/** FNV-1a steps over `text`, from hash `h`. */
function fnv1a(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

/** FNV-1a over "node\0session", finished with murmur3's fmix32 so that similar names spread well. */
function weight(nodeID: string, sessionId: string): number {
  let h = fnv1a(fnv1a(fnv1a(0x811c9dc5, nodeID), "\0"), sessionId);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Rendezvous hashing: the node with the highest weight for this session (ties: the greater id). */
export function pickOwner(nodes: string[], sessionId: string): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const node of nodes) {
    const w = weight(node, sessionId);
    if (w > bestWeight || (w === bestWeight && best !== undefined && node > best)) {
      best = node;
      bestWeight = w;
    }
  }
  return best;
}

export function ownerOf(broker: ServiceBroker, sessionId: string): string | undefined {
  return pickOwner(seatNodes(broker), sessionId);
}

function sessionKeyOf(broker: ServiceBroker, actionName: string): string | undefined {
  return endpoints(broker, actionName)[0]?.action?.sessionKey;
}

/** The broker middleware (moleculer.config.ts registers it on every node). */
export function SessionRoutingMiddleware(): Middleware {
  return function (this: unknown, broker: ServiceBroker) {
    let checker: NodeJS.Timeout | undefined;
    return {
      name: "SessionRouting",
      // Moleculer checks for silent nodes only once per heartbeatTimeout, so a killed node is noticed
      // up to two timeouts late; checking twice a second moves its sessions within the 5 s we promise.
      started() {
        const discoverer = (broker.registry as unknown as { discoverer?: { checkRemoteNodes?: () => void } }).discoverer;
        if (!broker.transit || !discoverer?.checkRemoteNodes) return;
        checker = setInterval(() => discoverer.checkRemoteNodes!(), 500);
        checker.unref();
      },
      stopped() {
        clearInterval(checker);
      },
      call(next: (actionName: unknown, params: unknown, opts?: Record<string, unknown>) => Promise<unknown>) {
        return function (target: unknown, params: unknown, opts: Record<string, unknown> = {}) {
          // moleculer-web calls with the endpoint its balancer chose (with preferLocal, this node's),
          // not with the action's name: a session-keyed action must still reach the owner.
          const endpoint = typeof target === "string" ? undefined : (target as Endpoint | undefined);
          const actionName = endpoint ? endpoint.action?.name : target;
          if (typeof actionName !== "string") return next(target, params, opts);
          const key = sessionKeyOf(broker, actionName);
          if (!key) return next(target, params, opts);
          const sessionId = (params as Record<string, unknown> | undefined)?.[key];
          if (typeof sessionId !== "string" || sessionId.length === 0 || sessionId.length > 100) {
            return Promise.reject(
              new Errors.ValidationError(`'${actionName}' needs a '${key}' to find the node that owns the session.`, "VALIDATION_ERROR", [
                { field: key, type: "required", message: `The '${key}' field is required.` },
              ]),
            );
          }
          const nodeID = ownerOf(broker, sessionId);
          if (!nodeID) return Promise.reject(new Errors.ServiceNotAvailableError({ action: actionName }));
          if (endpoint?.id === nodeID) return next(endpoint, params, opts);
          return next(actionName, params, { ...opts, nodeID });
        };
      },
    };
  } as unknown as Middleware;
}
