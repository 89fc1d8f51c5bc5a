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

type Rule = Record<string, unknown>;
type Check = (value: Record<string, unknown>, path: string, errors: NullParamError[]) => void;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The null check of one object schema (`{field: rule}`), or null when it has nothing to check. */
function objectCheck(schema: Record<string, unknown>): Check | null {
  const checks: Array<{ key: string; refuseNull: boolean; inner: Check | null }> = [];
  for (const [key, rule] of Object.entries(schema)) {
    if (key.startsWith("$$") || !isObject(rule)) continue; // shorthand strings and multi rules: fastest-validator's own handling
    const refuseNull = rule.optional === true && rule.nullable !== true && rule.default === undefined;
    const inner = ruleCheck(rule);
    if (refuseNull || inner) checks.push({ key, refuseNull, inner });
  }
  if (!checks.length) return null;
  return (value, path, errors) => {
    for (const { key, refuseNull, inner } of checks) {
      const v = value[key];
      const field = path ? `${path}.${key}` : key;
      if (v === null) {
        if (refuseNull) errors.push({ type: "notNull", field, message: `The '${field}' field must not be null.`, actual: null });
      } else if (inner && typeof v === "object") {
        inner(v as Record<string, unknown>, field, errors);
      }
    }
  };
}

/** What to check inside a value of this rule: an object's props, an array's items. */
function ruleCheck(rule: Rule): Check | null {
  const props = rule.props ?? rule.properties;
  if (rule.type === "object" && isObject(props)) {
    const check = objectCheck(props);
    if (!check) return null;
    return (v, path, errors) => {
      if (isObject(v)) check(v, path, errors);
    };
  }
  if (rule.type === "array" && isObject(rule.items)) {
    const item = rule.items;
    const refuseNull = item.optional === true && item.nullable !== true && item.default === undefined;
    const inner = ruleCheck(item);
    if (!refuseNull && !inner) return null;
    return (v, path, errors) => {
      if (!Array.isArray(v)) return;
      v.forEach((element, i) => {
        const field = `${path}[${i}]`;
        if (element === null) {
          if (refuseNull) errors.push({ type: "notNull", field, message: `The '${field}' field must not be null.`, actual: null });
        } else if (inner && typeof element === "object") {
          inner(element as Record<string, unknown>, field, errors);
        }
      });
    };
  }
  return null;
}

/**
 * The null check for an action's params schema: the fields sent as null where null is not allowed
 * (empty when none), or null when the schema has no such field and nothing needs checking.
 */
export function nullParamsCheck(schema: unknown): ((params: unknown) => NullParamError[]) | null {
  if (!isObject(schema) || schema.$$root === true) return null;
  const check = objectCheck(schema);
  if (!check) return null;
  return (params) => {
    const errors: NullParamError[] = [];
    if (isObject(params)) check(params, "", errors);
    return errors;
  };
}
