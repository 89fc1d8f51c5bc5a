/**
 * Venues and their layouts. Anyone may read them; organizers and admins create them. A layout is
 * sent in full (`{sections, areas}`) or, for big venues that would not fit in a request body,
 * generated from `{generate: {sections: [{name, rows, seatsPerRow, category}], areas}}`.
 * Layouts are not editable: sessions, holds and tickets refer to their seat ids.
 */
import type { Service, ServiceSchema } from "moleculer";
import { KnexDbMixin, KnexDbThis } from "../mixins/knex-db.mixin";
import { AuthContext, currentUser } from "../src/platform/auth";
import { EncodedAnswer } from "../src/platform/encoded-answer";
import { ReadCache } from "../src/platform/read-cache";
import { badRequest, notFound } from "../src/platform/errors";
import { generateLayout, layoutSpecProblems, LayoutSpec } from "../src/domain/layout-generator";
import { layoutCategories, validateLayout } from "../src/domain/layout-validation";
import type { VenueLayout } from "../src/domain/layout";
import type { Knex } from "knex";
import { catalogReadCache, idParam, Page, pageParams, venueSummary, VenueSummary, VENUE_SUMMARY_FIELDS } from "../src/catalog/shared";

interface CreateParams {
  name: string;
  city: string;
  address?: string;
  layout: Record<string, unknown>;
}

type This = KnexDbThis & Pick<Service, "broker"> & {
  checkedLayout(input: Record<string, unknown>): ReturnType<typeof validateLayout> & { ok: true };
  encodeVenue(id: string, etag: string): Promise<EncodedAnswer>;
  /** Encoded `GET /venues/:id` answers by venue id. */
  answers: ReadCache<EncodedAnswer>;
  /** Each venue's version (its ETag), read again after CATALOG_READ_TTL_MS: buyers revalidate it on every page. */
  versions: ReadCache<string | null>;
};

/** Venue answers kept encoded per node: a 22,000-seat stadium's is 1.7 MB of JSON and its gzip. */
const ENCODED_VENUES_KEPT = 16;

const VenuesService: ServiceSchema = {
  name: "venues",
  mixins: [KnexDbMixin({ table: "venues" })],
  settings: { rest: "/" },

  actions: {
    create: {
      rest: "POST /venues",
      roles: ["organizer", "admin"],
      // A 150,000-seat layout takes a while to store (embedded PGlite most of all); a retried
      // timeout would store the venue twice.
      timeout: 120_000,
      retryPolicy: { enabled: false },
      params: {
        name: { type: "string", trim: true, min: 1, max: 200 },
        city: { type: "string", trim: true, min: 1, max: 100 },
        address: { type: "string", trim: true, max: 300, optional: true },
        layout: { type: "object" },
      },
      async handler(this: This, ctx: AuthContext<CreateParams>) {
        const user = currentUser(ctx);
        const check = this.checkedLayout(ctx.params.layout);
        const saved = await this.adapter.insert({
          name: ctx.params.name,
          city: ctx.params.city,
          address: ctx.params.address ?? "",
          layout: check.layout,
          seatCount: check.seatCount,
          capacity: check.capacity,
          createdBy: user.id,
        }, undefined, VENUE_SUMMARY_FIELDS);
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = `/api/venues/${saved.id}`;
        return { ...venueSummary(saved), categories: check.categories };
      },
    },

    get: {
      rest: "GET /venues/:id",
      auth: "public",
      params: { id: idParam },
      async handler(this: This, ctx: AuthContext<{ id: string }>) {
        // A stadium's layout is megabytes and never changes: it is encoded once per version of the
        // row (JSON, ETag, gzip) and clients revalidate instead of refetching.
        const id = ctx.params.id;
        const etag = await this.versions.get(id, async () => {
          const row = await this.adapter.qb().select("updated_at").where({ id }).first();
          return row ? `"venue-${id}-${new Date(row.updated_at).getTime()}"` : null;
        });
        if (!etag) throw notFound("Venue");
        const answer = await this.answers.get(id, () => this.encodeVenue(id, etag), etag);
        return answer.send(ctx, this.broker.nodeID);
      },
    },

    list: {
      rest: "GET /venues",
      auth: "public",
      params: {
        city: { type: "string", trim: true, max: 100, optional: true },
        ...pageParams,
      },
      async handler(this: This, ctx: AuthContext<{ city?: string; page: number; pageSize: number }>): Promise<Page<VenueSummary>> {
        const { page, pageSize, city } = ctx.params;
        const where = (qb: Knex.QueryBuilder) => {
          if (city) qb.whereRaw("lower(venues.city) = lower(?)", [city]);
        };
        const [rows, total] = await Promise.all([
          this.adapter.find({ query: where, fields: VENUE_SUMMARY_FIELDS, sort: ["name", "id"], limit: pageSize, offset: (page - 1) * pageSize }),
          this.adapter.count({ query: where }),
        ]);
        return { items: rows.map((r) => venueSummary(r)), total, page, pageSize };
      },
    },
  },

  methods: {
    /** The venue's `GET /venues/:id` answer, encoded (its JSON now, its gzip on first demand). */
    async encodeVenue(this: This, id: string, etag: string): Promise<EncodedAnswer> {
      const row = await this.adapter.findById(id);
      if (!row) throw notFound("Venue");
      const layout = row.layout as VenueLayout;
      return EncodedAnswer.of({ ...venueSummary(row), categories: layoutCategories(layout), layout }, etag);
    },

    /** The stored layout for a request's `layout`, or a 400 naming what is wrong with it. */
    checkedLayout(input: Record<string, unknown>) {
      let layout: unknown = input;
      if ("generate" in input) {
        const extra = Object.keys(input).filter((k) => k !== "generate");
        const problems = extra.length
          ? [{ field: "layout", message: `'generate' cannot be combined with: ${extra.join(", ")}` }]
          : layoutSpecProblems(input.generate as LayoutSpec);
        if (problems.length) throw badRequest("The venue layout is invalid.", { fields: problems });
        layout = generateLayout(input.generate as LayoutSpec);
      }
      const check = validateLayout(layout);
      if (!check.ok) throw badRequest("The venue layout is invalid.", { fields: check.problems });
      return check;
    },
  },

  created(this: Service) {
    (this as unknown as This).answers = new ReadCache<EncodedAnswer>({ kept: ENCODED_VENUES_KEPT });
    (this as unknown as This).versions = catalogReadCache<string | null>();
  },
};

export default VenuesService;
