/**
 * Buyer emails from the saga's durable events: the confirmation with every ticket PDF attached
 * (whose QR decodes to the ticket's code), failure and cancellation mails, one per order however
 * often a message is redelivered; history per user. Three transports: in memory (the message kept
 * in the row), .eml files under DATA_DIR/mail, and SMTP (a real SMTP conversation with a local
 * server that refuses the first attempts, so the channel's retries are what delivers the mail).
 */
import fs from "fs";
import net from "net";
import os from "os";
import path from "path";
import { Channels } from "../../channels";
import { startTestNode, TestNode } from "../helpers/node";
import { decodeQrFromPdf } from "../helpers/qr";
import { CatalogFixture, confirm, confirmedOrder, createCatalog, delivered, mimeAttachments, publish, TestUser, userOf, waitFor } from "../helpers/fulfilment";

const SERVICES = ["api", "tickets", "ticket-pdf", "notifications"];

/**
 * Just enough SMTP for nodemailer; answers 451 to the first `failFirst` messages. While `hold()`
 * is on, it keeps each message's answer until `release()` (a server that takes its time).
 */
function smtpServer(failFirst: number) {
  const accepted: string[] = [];
  let attempts = 0;
  let holding = false;
  let held: Array<() => void> = [];
  const server = net.createServer((socket) => {
    socket.write("220 test ESMTP\r\n");
    let buffer = "";
    let data: string[] | undefined;
    socket.on("data", (chunk) => {
      buffer += chunk.toString("latin1");
      let eol: number;
      while ((eol = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, eol);
        buffer = buffer.slice(eol + 2);
        if (data) {
          if (line !== ".") {
            data.push(line.startsWith("..") ? line.slice(1) : line);
            continue;
          }
          attempts++;
          const message = data.join("\r\n");
          const answer = () => {
            if (attempts <= failFirst) socket.write("451 4.3.0 try again later\r\n");
            else {
              accepted.push(message);
              socket.write("250 2.0.0 queued\r\n");
            }
          };
          if (holding) held.push(answer);
          else answer();
          data = undefined;
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO" || verb === "HELO") socket.write("250 test\r\n");
        else if (verb === "DATA") {
          data = [];
          socket.write("354 go ahead\r\n");
        } else if (verb === "QUIT") socket.end("221 bye\r\n");
        else socket.write("250 OK\r\n");
      }
    });
    socket.on("error", () => undefined);
  });
  return {
    accepted,
    attempts: () => attempts,
    hold: () => (holding = true),
    /** Messages received and not yet answered. */
    waiting: () => held.length,
    release: () => {
      holding = false;
      const answers = held;
      held = [];
      answers.forEach((a) => a());
    },
    listen: () => new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port))),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function ticketCodes(node: TestNode, orderId: string): Promise<string[]> {
  const db = await node.platform.db();
  return (await db("tickets").where({ order_id: orderId }).orderBy("position")).map((t: { code: string }) => t.code);
}

async function sentNotification(user: TestUser, orderId: string, kind: string) {
  return waitFor(`${kind} for ${orderId}`, async () => {
    const res = await user.http.get("/api/notifications/my?pageSize=100");
    return res.body.items?.find((n: any) => n.orderId === orderId && n.kind === kind && n.status === "SENT");
  });
}

describe("notifications (in memory: the message is kept in its row)", () => {
  let node: TestNode;
  let catalog: CatalogFixture;
  let buyer: TestUser;
  let other: TestUser;

  beforeAll(async () => {
    node = await startTestNode({ services: SERVICES });
    catalog = await createCatalog(node, { title: "Jazz & <Blues>" });
    buyer = userOf(node, ["buyer"], "Ada <b>Lovelace</b>");
    other = userOf(node, ["buyer"], "Mallory");
  });
  afterAll(() => node.stop());

  it("mails the confirmation with every ticket's PDF attached, once the PDFs exist", async () => {
    const order = confirmedOrder(buyer, catalog, [1, 2]);
    await confirm(node, order);
    const n = await sentNotification(buyer, order.orderId, "order_confirmed");
    expect(n).toMatchObject({ channel: "email", recipient: buyer.email, attachments: 2, subject: "Your tickets for Jazz & <Blues>" });

    const db = await node.platform.db();
    const row = await db("notifications").where({ id: n.id }).first();
    const raw = row.raw.toString("utf8");
    expect(raw).toMatch(/^To: [^\r\n]*@example\.com/m);
    expect(raw).toContain("multipart/mixed");
    const attachments = mimeAttachments(raw);
    expect(attachments.map((a) => a.contentType)).toEqual(["application/pdf", "application/pdf"]);
    const codes = await ticketCodes(node, order.orderId);
    expect(attachments.map((a) => decodeQrFromPdf(a.content))).toEqual(codes);
  });

  it("mails the confirmation once, however often and however concurrently tickets.rendered arrives", async () => {
    const order = confirmedOrder(buyer, catalog, [4]);
    await confirm(node, order);
    const n = await sentNotification(buyer, order.orderId, "order_confirmed");
    const db = await node.platform.db();
    const first = await db("notifications").where({ id: n.id }).first();
    const rendered = { orderId: order.orderId, userId: buyer.id, ticketIds: (await db("tickets").where({ order_id: order.orderId }).pluck("id")) as string[] };
    const before = await delivered(node, Channels.TICKETS_RENDERED, order.orderId);
    await Promise.all([publish(node, Channels.TICKETS_RENDERED, rendered), publish(node, Channels.TICKETS_RENDERED, rendered), publish(node, Channels.TICKETS_RENDERED, rendered)]);
    await waitFor("the repeats delivered", async () => (await delivered(node, Channels.TICKETS_RENDERED, order.orderId)) === before + 3);
    const rows = await db("notifications").where({ order_id: order.orderId, kind: "order_confirmed" });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: "SENT", message_id: first.message_id });
    expect(rows[0].sent_at).toEqual(first.sent_at);
    expect(rows[0].raw.equals(first.raw)).toBe(true);
  });

  it("escapes the buyer's name and the event title in the HTML part", async () => {
    const order = confirmedOrder(buyer, catalog, [3]);
    await confirm(node, order);
    const n = await sentNotification(buyer, order.orderId, "order_confirmed");
    const db = await node.platform.db();
    const raw = (await db("notifications").where({ id: n.id }).first()).raw.toString("utf8");
    // Quoted-printable may wrap lines; undo soft breaks before looking.
    const flat = raw.replace(/=\r?\n/g, "").replace(/=3D/g, "=");
    expect(flat).toContain("Ada &lt;b&gt;Lovelace&lt;/b&gt;");
    expect(flat).toContain("Jazz &amp; &lt;Blues&gt;");
    expect(flat).not.toContain("<b>Lovelace</b>,</p>");
  });

  it("mails failures and cancellations once, however often the event is delivered", async () => {
    const failed = { orderId: confirmedOrder(buyer, catalog, [1]).orderId, userId: buyer.id, email: buyer.email, reason: "PAYMENT_DECLINED" };
    await publish(node, Channels.ORDERS_FAILED, failed);
    await publish(node, Channels.ORDERS_FAILED, failed);
    // Embedded, an event is marked sent once its consumers have handled it.
    await waitFor("both deliveries handled", async () => (await delivered(node, Channels.ORDERS_FAILED, failed.orderId)) === 2);
    const mine = await buyer.http.get("/api/notifications/my?pageSize=100");
    const failures = mine.body.items.filter((n: any) => n.orderId === failed.orderId);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ kind: "order_failed", status: "SENT", subject: "Your order could not be completed" });
    const db = await node.platform.db();
    expect((await db("notifications").where({ id: failures[0].id }).first()).raw.toString()).toContain("your card was declined");

    const order = confirmedOrder(buyer, catalog, [4]);
    await confirm(node, order);
    await publish(node, Channels.ORDERS_CANCELLED, { orderId: order.orderId, userId: buyer.id, email: buyer.email, refundedCents: 4500 });
    const cancelled = await sentNotification(buyer, order.orderId, "order_cancelled");
    expect(cancelled.subject).toBe("Your order has been cancelled");
  });

  it("lists a user's own notifications only", async () => {
    const mine = await buyer.http.get("/api/notifications/my");
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ page: 1, pageSize: 20, total: expect.any(Number) });
    expect(mine.body.total).toBeGreaterThanOrEqual(4);
    const theirs = await other.http.get("/api/notifications/my");
    expect(theirs.body).toMatchObject({ items: [], total: 0 });
    expect((await node.http.get("/api/notifications/my")).status).toBe(401);
    expect((await buyer.http.get("/api/notifications/my?pageSize=1000")).status).toBe(400);
  });
});

describe("notifications (DATA_DIR: .eml files)", () => {
  let node: TestNode;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-mail-"));
    node = await startTestNode({ services: SERVICES, env: { DATA_DIR: dir } });
  });
  afterAll(async () => {
    await node.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("writes the confirmation, PDFs attached, as DATA_DIR/mail/<notification id>.eml", async () => {
    const buyer = userOf(node, ["buyer"], "Grace Hopper");
    const order = confirmedOrder(buyer, await createCatalog(node), [1, 2, 3]);
    await confirm(node, order);
    const n = await sentNotification(buyer, order.orderId, "order_confirmed");
    const file = path.join(dir, "mail", `${n.id}.eml`);
    expect(fs.existsSync(file)).toBe(true);
    const eml = fs.readFileSync(file, "utf8");
    expect(eml).toContain("Subject: Your tickets for Symphony in the Park");
    const attachments = mimeAttachments(eml);
    expect(attachments).toHaveLength(3);
    expect(attachments.map((a) => decodeQrFromPdf(a.content))).toEqual(await ticketCodes(node, order.orderId));
    // One Message-ID per notification, the same in the file and the row: a repeat is the same message.
    const db = await node.platform.db();
    expect(eml).toMatch(new RegExp(`^Message-ID: <${n.id}@ticketflash>\r?$`, "m"));
    expect((await db("notifications").where({ id: n.id }).first()).message_id).toBe(`<${n.id}@ticketflash>`);
  });

  it("marks no mail sent before its file is written: a failed write is retried until the file is there", async () => {
    const buyer = userOf(node, ["buyer"], "Edsger Dijkstra");
    const mailDir = path.join(dir, "mail");
    // A file where the directory should be: every write fails (root ignores permissions).
    fs.renameSync(mailDir, `${mailDir}.away`);
    fs.writeFileSync(mailDir, "not a directory");
    let restored = false;
    const restore = () => {
      if (restored) return;
      restored = true;
      fs.rmSync(mailDir);
      fs.renameSync(`${mailDir}.away`, mailDir);
    };
    try {
      const order = confirmedOrder(buyer, await createCatalog(node), [1]);
      await confirm(node, order);
      const db = await node.platform.db();
      await waitFor("a failed write recorded for retry", async () =>
        (await db("failed_messages").where({ channel: Channels.TICKETS_RENDERED, consumer_group: "notifications" }).whereRaw("payload->>'orderId' = ?", [order.orderId])).length > 0);
      const row = await db("notifications").where({ order_id: order.orderId, kind: "order_confirmed" }).first();
      expect(row.status).not.toBe("SENT");
      restore();
      const n = await sentNotification(buyer, order.orderId, "order_confirmed");
      const eml = fs.readFileSync(path.join(mailDir, `${n.id}.eml`), "utf8");
      expect(mimeAttachments(eml)).toHaveLength(1);
    } finally {
      restore();
    }
  });
});

describe("notifications (SMTP_URL)", () => {
  let node: TestNode;
  const smtp = smtpServer(2);

  beforeAll(async () => {
    const port = await smtp.listen();
    node = await startTestNode({ services: SERVICES, env: { SMTP_URL: `smtp://127.0.0.1:${port}` } });
  });
  afterAll(async () => {
    await node.stop();
    await smtp.close();
  });

  it("retries a refused send through the channel until the server accepts it", async () => {
    const buyer = userOf(node, ["buyer"], "Katherine Johnson");
    const order = confirmedOrder(buyer, await createCatalog(node), [1]);
    await confirm(node, order);
    const n = await sentNotification(buyer, order.orderId, "order_confirmed");
    expect(smtp.attempts()).toBe(3);
    expect(smtp.accepted).toHaveLength(1);
    const message = smtp.accepted[0];
    expect(message.toLowerCase()).toContain(`x-ticketflash-notification: ${n.id}`);
    expect(mimeAttachments(message).map((a) => decodeQrFromPdf(a.content))).toEqual(await ticketCodes(node, order.orderId));
    // The two refusals are on record with the durable channel, and the message is done.
    const db = await node.platform.db();
    const failure = await db("failed_messages").where({ consumer_group: "notifications", channel: Channels.TICKETS_RENDERED }).first();
    expect(failure).toMatchObject({ status: "DONE", attempts: 3 });
    expect(failure.last_error).toMatch(/451/);
  });

  it("answers the node's other requests while the SMTP server takes its time: no send holds a transaction", async () => {
    const buyer = userOf(node, ["buyer"], "Dorothy Vaughan");
    const order = confirmedOrder(buyer, await createCatalog(node), [2]);
    smtp.hold();
    try {
      await confirm(node, order);
      await waitFor("the confirmation at the SMTP server", async () => smtp.waiting() === 1);
      // On the embedded database a transaction around the send held up every statement until
      // the server answered: this request waited for it.
      const listed = await Promise.race([
        buyer.http.get("/api/notifications/my"),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no answer while the mail was being sent")), 10_000)),
      ]);
      expect(listed.status).toBe(200);
      expect(listed.body.items).toEqual([expect.objectContaining({ orderId: order.orderId, kind: "order_confirmed", status: "SENDING" })]);
    } finally {
      smtp.release();
    }
    const n = await sentNotification(buyer, order.orderId, "order_confirmed");
    expect(smtp.accepted.filter((m) => m.toLowerCase().includes(`x-ticketflash-notification: ${n.id}`))).toHaveLength(1);
  });

  it("sends a mail once when two deliveries of it run at once: the second is retried, and then sends nothing", async () => {
    const buyer = userOf(node, ["buyer"], "Mary Jackson");
    const order = confirmedOrder(buyer, await createCatalog(node), [3]);
    const notifications = node.broker.getLocalService("notifications") as any;
    const db = await node.platform.db();
    smtp.hold();
    try {
      await confirm(node, order);
      await waitFor("the confirmation at the SMTP server", async () => smtp.waiting() === 1);
      await expect(notifications.sendConfirmation(db, order.orderId)).rejects.toThrow(/being sent by another delivery/);
    } finally {
      smtp.release();
    }
    const n = await sentNotification(buyer, order.orderId, "order_confirmed");
    await notifications.sendConfirmation(db, order.orderId);
    expect(smtp.accepted.filter((m) => m.toLowerCase().includes(`x-ticketflash-notification: ${n.id}`))).toHaveLength(1);
  });

  it("sends a mail whose claim ran out: the node that claimed it died before marking it sent", async () => {
    const buyer = userOf(node, ["buyer"], "Annie Easley");
    const order = confirmedOrder(buyer, await createCatalog(node), [4]);
    await confirm(node, order);
    const n = await sentNotification(buyer, order.orderId, "order_confirmed");
    const db = await node.platform.db();
    // As a node that claimed the mail and died would leave it, its claim over.
    await db("notifications").where({ id: n.id }).update({ status: "SENDING", sending_until: db.raw("now() - interval '1 second'") });
    const ticketIds = (await db("tickets").where({ order_id: order.orderId }).pluck("id")) as string[];
    await publish(node, Channels.TICKETS_RENDERED, { orderId: order.orderId, userId: buyer.id, ticketIds });
    await waitFor("the mail sent again", async () => smtp.accepted.filter((m) => m.toLowerCase().includes(`x-ticketflash-notification: ${n.id}`)).length === 2);
    await waitFor("the mail marked sent", async () => (await db("notifications").where({ id: n.id }).first()).status === "SENT");
  });

  it("retries a failure mail claimed by a node that died until the claim runs out, then sends it", async () => {
    const buyer = userOf(node, ["buyer"], "Christine Darden");
    const orderId = confirmedOrder(buyer, await createCatalog(node), [5]).orderId;
    const db = await node.platform.db();
    // As a node that claimed the mail and died would leave the row, with 12 s of its claim left:
    // longer than the channel's default retries (six attempts over about 8 s) would wait.
    await db("notifications").insert({
      id: `dead-claim-${orderId}`, user_id: buyer.id, order_id: orderId, kind: "order_failed", recipient: buyer.email,
      status: "SENDING", sending_until: db.raw("now() + interval '12 seconds'"), context: JSON.stringify({ reason: "PAYMENT_DECLINED" }),
    });
    await publish(node, Channels.ORDERS_FAILED, { orderId, userId: buyer.id, email: buyer.email, reason: "PAYMENT_DECLINED" });
    await waitFor("the mail sent once the claim ran out", async () => smtp.accepted.some((m) => m.toLowerCase().includes(`x-ticketflash-notification: dead-claim-${orderId}`)), 45_000);
    expect((await db("notifications").where({ order_id: orderId, kind: "order_failed" }).first()).status).toBe("SENT");
    const [{ c }] = await db("failed_messages").where({ channel: Channels.ORDERS_FAILED, consumer_group: "notifications", status: "DEAD" }).count<{ c: number }[]>({ c: "*" });
    expect(Number(c)).toBe(0);
  }, 60_000);
});
