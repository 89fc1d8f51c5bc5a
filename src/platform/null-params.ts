/**
 * fastest-validator lets `null` through wherever a field is optional (it reads null as "not
 * sent"), and then hands the action that null. `PUT /api/events/:id {"title": null}` reached the
 * database that way and failed there with a 500. This refuses null on every field whose rule does
 * not say `nullable: true` (or give a `default`, which fastest-validator puts in null's place): a
 * 400 naming the field, like any other invalid value. Nested objects (`props`) and the objects in
 * arrays (`items`) are checked too.
 */

/** A fastest-validator error, as the validator middleware reports it. */
export interface NullParamError {
  type: "notNull";
  field: string;
  message: string;
  actual: null;
}

type ValueCheck = (value: unknown, field: string, errors: NullParamError[]) => void;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The check of a value of this rule: null refused unless the rule allows it, then what is inside
 * an object or an array. Null when there is nothing to check (shorthand strings and multi rules
 * are left to fastest-validator).
 */
function valueCheck(rule: unknown): ValueCheck | null {
  if (!isObject(rule)) return null;
  const refuseNull = rule.optional === true && rule.nullable !== true && rule.default === undefined;
  const inner = innerCheck(rule);
  if (!refuseNull && !inner) return null;
  return (value, field, errors) => {
    if (value === null) {
      if (refuseNull) errors.push({ type: "notNull", field, message: `The '${field}' field must not be null.`, actual: null });
    } else if (inner) {
      inner(value, field, errors);
    }
  };
}

/** What is inside a value of this rule: an object's props, an array's elements. */
function innerCheck(rule: Record<string, unknown>): ValueCheck | null {
  const props = rule.props ?? rule.properties;
  if (rule.type === "object" && isObject(props)) return fieldsCheck(props);
  if (rule.type !== "array") return null;
  const element = valueCheck(rule.items);
  if (!element) return null;
  return (value, path, errors) => {
    if (Array.isArray(value)) value.forEach((v, i) => element(v, `${path}[${i}]`, errors));
  };
}

/** The checks of an object schema's fields (`{field: rule}`). */
function fieldsCheck(schema: Record<string, unknown>): ValueCheck | null {
  const checks: Array<[string, ValueCheck]> = [];
  for (const [key, rule] of Object.entries(schema)) {
    const check = key.startsWith("$$") ? null : valueCheck(rule);
    if (check) checks.push([key, check]);
  }
  if (!checks.length) return null;
  return (value, path, errors) => {
    if (!isObject(value)) return;
    for (const [key, check] of checks) check(value[key], path ? `${path}.${key}` : key, errors);
  };
}

/**
 * The null check for an action's params schema: the fields sent as null where null is not allowed
 * (empty when none), or null when the schema has no such field and nothing needs checking.
 */
export function nullParamsCheck(schema: unknown): ((params: unknown) => NullParamError[]) | null {
  if (!isObject(schema) || schema.$$root === true) return null;
  const check = fieldsCheck(schema);
  if (!check) return null;
  return (params) => {
    const errors: NullParamError[] = [];
    check(params, "", errors);
    return errors;
  };
}
