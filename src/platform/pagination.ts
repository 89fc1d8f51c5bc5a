/** The paging parameters every list route takes; lists answer {items, total, page, pageSize}. */
export const pageParams = {
  page: { type: "number", integer: true, min: 1, max: 10_000, convert: true, optional: true, default: 1 },
  pageSize: { type: "number", integer: true, min: 1, max: 100, convert: true, optional: true, default: 20 },
} as const;
