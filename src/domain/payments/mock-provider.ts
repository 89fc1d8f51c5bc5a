/**
 * The built-in payment provider: behaves like a card processor's test mode, so that the whole
 * purchase can be exercised without one.
 * - Test cards (any future expiry, any CVC): 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is
 *   declined, 4000 0000 0000 9995 has insufficient funds, 4000 0000 0000 0259 succeeds after 3 s.
 *   Any other valid card number succeeds.
 * - A little network latency on every call.
 * - Idempotency keys: the same key returns the first result; the same key for a different request
 *   is refused. Its ledger (operations by key, authorizations) is kept in a `MockLedger`, in
 *   PostgreSQL in production, so that it survives our own crashes just as a real provider would.
 */
import { createHash, randomUUID } from "crypto";
import type { AuthorizeRequest, AuthorizeResult, PaymentProvider } from "./provider";
import { PaymentProviderError } from "./provider";

export const TEST_CARDS = {
  success: "4242424242424242",
  declined: "4000000000000002",
  insufficientFunds: "4000000000009995",
  slow: "4000000000000259",
} as const;

export const SLOW_CARD_DELAY_MS = 3000;

export interface StoredOperation {
  key: string;
  operation: string;
  requestHash: string;
  response: unknown;
}

export interface MockAuthorization {
  id: string;
  amountCents: number;
  currency: string;
  status: "authorized" | "captured" | "voided" | "refunded";
  capturedCents: number;
  refundedCents: number;
  last4: string;
}

/** One atomic unit of work on the ledger (a database transaction in production). */
export interface MockLedgerTx {
  /** Fails if the key exists (a concurrent call with the same key won); the caller re-reads it. */
  insertOperation(op: StoredOperation): Promise<void>;
  /** Locks the authorization for the rest of the unit of work. */
  authorization(id: string): Promise<MockAuthorization | null>;
  saveAuthorization(auth: MockAuthorization): Promise<void>;
}

export interface MockLedger {
  run<T>(work: (tx: MockLedgerTx) => Promise<T>): Promise<T>;
  /** Reads an operation outside any unit of work (a replay check needs no transaction). */
  peek(key: string): Promise<StoredOperation | null>;
}

export interface MockProviderOptions {
  ledger: MockLedger;
  sleep?: (ms: number) => Promise<void>;
  /** Simulated network latency per call, in ms. */
  latencyMs?: () => number;
}

const hash = (value: unknown) => createHash("sha256").update(JSON.stringify(value)).digest("hex");

export class MockPaymentProvider implements PaymentProvider {
  readonly name = "mock";
  private ledger: MockLedger;
  private sleep: (ms: number) => Promise<void>;
  private latencyMs: () => number;

  constructor(opts: MockProviderOptions) {
    this.ledger = opts.ledger;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.latencyMs = opts.latencyMs ?? (() => 20 + Math.floor(Math.random() * 40));
  }

  async authorize(req: AuthorizeRequest): Promise<AuthorizeResult> {
    const requestHash = hash(["authorize", req.amountCents, req.currency, req.card.last4]);
    await this.sleep(this.latencyMs() + (req.card.number === TEST_CARDS.slow ? SLOW_CARD_DELAY_MS : 0));
    let result: AuthorizeResult;
    if (req.card.number === TEST_CARDS.declined) {
      result = { status: "declined", code: "card_declined", message: "Your card was declined." };
    } else if (req.card.number === TEST_CARDS.insufficientFunds) {
      result = { status: "declined", code: "insufficient_funds", message: "Your card has insufficient funds." };
    } else {
      result = { status: "authorized", authorizationId: `auth_${randomUUID()}` };
    }
    return this.once(req.idempotencyKey, "authorize", requestHash, async (tx) => {
      if (result.status === "authorized") {
        await tx.saveAuthorization({
          id: result.authorizationId,
          amountCents: req.amountCents,
          currency: req.currency,
          status: "authorized",
          capturedCents: 0,
          refundedCents: 0,
          last4: req.card.last4,
        });
      }
      return result;
    });
  }

  async findAuthorization(idempotencyKey: string): Promise<AuthorizeResult | null> {
    await this.sleep(this.latencyMs());
    const op = await this.ledger.peek(idempotencyKey);
    return op && op.operation === "authorize" ? (op.response as AuthorizeResult) : null;
  }

  async capture(req: { idempotencyKey: string; authorizationId: string; amountCents: number }): Promise<{ captureId: string }> {
    const requestHash = hash(["capture", req.authorizationId, req.amountCents]);
    await this.sleep(this.latencyMs());
    return this.once(req.idempotencyKey, "capture", requestHash, async (tx) => {
      const auth = await this.mustFind(tx, req.authorizationId);
      if (auth.status !== "authorized") throw new PaymentProviderError(`authorization_${auth.status}`, `The authorization is ${auth.status}.`);
      if (req.amountCents > auth.amountCents) throw new PaymentProviderError("amount_too_large", "Cannot capture more than was authorized.");
      await tx.saveAuthorization({ ...auth, status: "captured", capturedCents: req.amountCents });
      return { captureId: `cap_${randomUUID()}` };
    });
  }

  async void(req: { idempotencyKey: string; authorizationId: string }): Promise<void> {
    const requestHash = hash(["void", req.authorizationId]);
    await this.sleep(this.latencyMs());
    await this.once(req.idempotencyKey, "void", requestHash, async (tx) => {
      const auth = await this.mustFind(tx, req.authorizationId);
      if (auth.status === "captured" || auth.status === "refunded") {
        throw new PaymentProviderError("authorization_captured", "A captured payment cannot be voided; refund it.");
      }
      if (auth.status === "authorized") await tx.saveAuthorization({ ...auth, status: "voided" });
      return { voided: true };
    });
  }

  async refund(req: { idempotencyKey: string; authorizationId: string; amountCents: number }): Promise<{ refundId: string }> {
    const requestHash = hash(["refund", req.authorizationId, req.amountCents]);
    await this.sleep(this.latencyMs());
    return this.once(req.idempotencyKey, "refund", requestHash, async (tx) => {
      const auth = await this.mustFind(tx, req.authorizationId);
      if (auth.status !== "captured" && auth.status !== "refunded") {
        throw new PaymentProviderError("not_captured", "Only captured payments can be refunded.");
      }
      if (auth.refundedCents + req.amountCents > auth.capturedCents) {
        throw new PaymentProviderError("amount_too_large", "Cannot refund more than was captured.");
      }
      const refundedCents = auth.refundedCents + req.amountCents;
      await tx.saveAuthorization({ ...auth, refundedCents, status: refundedCents === auth.capturedCents ? "refunded" : "captured" });
      return { refundId: `re_${randomUUID()}` };
    });
  }

  private async mustFind(tx: MockLedgerTx, id: string): Promise<MockAuthorization> {
    const auth = await tx.authorization(id);
    if (!auth) throw new PaymentProviderError("authorization_not_found", "No such authorization.");
    return auth;
  }

  /** The stored response for this key, or undefined; a key reused for another request is refused. */
  private async replay<T>(key: string, requestHash: string): Promise<T | undefined> {
    const op = await this.ledger.peek(key);
    if (!op) return undefined;
    if (op.requestHash !== requestHash) {
      throw new PaymentProviderError("idempotency_key_reused", "This idempotency key was used for another request.");
    }
    return op.response as T;
  }

  /**
   * Does `work` and records its response under the key, atomically; a concurrent twin's result
   * wins. A repeated key is found when its unit fails (the key is stored already, or the work
   * refuses what its first call changed: a capture finds the authorization captured), and the
   * stored response is answered: a first call, nearly every call, reads no stored operation
   * first. Like a real provider, a repeat answers after the network's latency too.
   */
  private async once<T>(key: string, operation: string, requestHash: string, work: (tx: MockLedgerTx) => Promise<T>): Promise<T> {
    try {
      return await this.ledger.run(async (tx) => {
        const response = await work(tx);
        await tx.insertOperation({ key, operation, requestHash, response });
        return response;
      });
    } catch (err) {
      const earlier = await this.replay<T>(key, requestHash);
      if (earlier !== undefined) return earlier;
      throw err;
    }
  }
}

/** An in-memory ledger (unit tests; it forgets everything when the process ends). */
export class MemoryMockLedger implements MockLedger {
  private operations = new Map<string, StoredOperation>();
  private authorizations = new Map<string, MockAuthorization>();
  private queue: Promise<unknown> = Promise.resolve();

  run<T>(work: (tx: MockLedgerTx) => Promise<T>): Promise<T> {
    // One unit of work at a time, with its writes applied only if it completes.
    const next = this.queue.then(async () => {
      const ops = new Map<string, StoredOperation>();
      const auths = new Map<string, MockAuthorization>();
      const tx: MockLedgerTx = {
        insertOperation: async (op) => {
          if (ops.has(op.key) || this.operations.has(op.key)) throw new Error(`duplicate key ${op.key}`);
          ops.set(op.key, structuredClone(op));
        },
        authorization: async (id) => structuredClone(auths.get(id) ?? this.authorizations.get(id) ?? null),
        saveAuthorization: async (a) => {
          auths.set(a.id, structuredClone(a));
        },
      };
      const result = await work(tx);
      ops.forEach((v, k) => this.operations.set(k, v));
      auths.forEach((v, k) => this.authorizations.set(k, v));
      return result;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  async peek(key: string): Promise<StoredOperation | null> {
    await this.queue;
    return structuredClone(this.operations.get(key) ?? null);
  }

  authorizationsSnapshot(): MockAuthorization[] {
    return [...this.authorizations.values()].map((a) => structuredClone(a));
  }
}
