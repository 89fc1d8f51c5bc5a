import { Validators } from "moleculer";
import { nullParamsCheck } from "../../src/platform/null-params";
import { brokerOptions } from "../../moleculer.config";

// An event update's params, shaped as services/events.service.ts and sessions.service.ts write them.
const schema = {
  id: { type: "string", min: 1, max: 100 },
  title: { type: "string", min: 1, max: 200, optional: true },
  salesOpenAt: { type: "date", convert: true, optional: true, nullable: true },
  page: { type: "number", optional: true, default: 1 },
  price: "number|optional",
  translations: {
    type: "object",
    optional: true,
    props: { de: { type: "object", optional: true, props: { title: { type: "string", optional: true }, note: { type: "string", optional: true, nullable: true } } } },
  },
  seats: { type: "array", optional: true, items: { type: "object", props: { id: { type: "string" }, label: { type: "string", optional: true } } } },
  $$strict: true,
};

describe("null on a field that does not allow it", () => {
  const check = nullParamsCheck(schema)!;

  it("is refused on an optional field, with the field named; nothing else is", () => {
    expect(check({ id: "e1", title: null })).toEqual([{ type: "notNull", field: "title", message: "The 'title' field must not be null.", actual: null }]);
    expect(check({ id: "e1" })).toEqual([]);
    expect(check({ id: "e1", title: "New" })).toEqual([]);
    expect(check(undefined)).toEqual([]);
  });

  it("is allowed where the rule says nullable, or has a default to put in its place", () => {
    expect(check({ id: "e1", salesOpenAt: null, page: null })).toEqual([]);
  });

  it("is found inside nested objects and the objects of arrays, by path", () => {
    const errors = check({ id: "e1", translations: { de: { title: null, note: null } }, seats: [{ id: "A-1" }, { id: "A-2", label: null }] });
    expect(errors.map((e) => e.field)).toEqual(["translations.de.title", "seats[1].label"]);
  });

  it("leaves shorthand rules and a required field's null to fastest-validator", () => {
    expect(check({ id: null, price: null })).toEqual([]);
    const fv = new Validators.Fastest();
    const required = fv.compile({ id: { type: "string" } }) as (p: unknown) => unknown;
    expect(required({ id: null })).toEqual([expect.objectContaining({ type: "required", field: "id" })]);
  });

  it("needs no check for a schema without a field to refuse null on", () => {
    expect(nullParamsCheck({ id: { type: "string" }, at: { type: "date", optional: true, nullable: true } })).toBeNull();
    expect(nullParamsCheck({ $$root: true, type: "string", optional: true })).toBeNull();
  });
});

describe("the platform's validator", () => {
  // The broker's validator, as moleculer.config.ts builds it.
  const validator = brokerOptions().validator as unknown as { compile(s: unknown): ((p: unknown) => unknown) & { async?: boolean } };

  it("answers null on an optional field as a validation error, and still takes what is valid", () => {
    const check = validator.compile({ title: { type: "string", optional: true }, at: { type: "date", optional: true, nullable: true } });
    expect(check({ title: null })).toEqual([expect.objectContaining({ type: "notNull", field: "title" })]);
    expect(check({ title: "x", at: null })).toBe(true);
    expect(check({ title: 5 })).toEqual([expect.objectContaining({ type: "string", field: "title" })]);
    expect(check({ other: 1 })).toEqual([expect.objectContaining({ type: "objectStrict" })]);
  });

  it("keeps an async schema async", async () => {
    const check = validator.compile({ $$async: true, title: { type: "string", optional: true } });
    expect(check.async).toBe(true);
    await expect(check({ title: null })).resolves.toEqual([expect.objectContaining({ type: "notNull", field: "title" })]);
  });
});
