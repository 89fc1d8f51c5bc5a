import type { Knex } from "knex";

/**
 * seat_commit deletes the claims a batch of the seat actor let go of (a hold confirmed, released
 * or expired). As one DELETE joined with the batch, its plan depended on the planner's guesses,
 * and without statistics (the embedded database has none) it read every claim of the session and
 * joined them with the batch by hash: 57 ms for 3 claims in a session with 4,976, and more with
 * every seat sold. Naming the seats in the index condition was not enough: the generic plan used
 * them, a custom plan did not. One DELETE per claim, by the whole primary key, can only be an
 * index lookup. Timed in a loop on PGlite, a commit that moves two claims: 5.0-7.5 ms before,
 * 0.3-0.45 ms after, in a session with 20,100 claims (bench/fixes.md, eleventh round).
 */
const BY_CLAIM = `
      FOR d IN SELECT * FROM jsonb_to_recordset(p_deletes) AS x(seat_id text, kind text, hold_id text, order_id text) LOOP
        DELETE FROM seat_claims c
         WHERE c.session_id = p_session AND c.seat_id = d.seat_id AND c.kind = d.kind
           AND c.hold_id IS NOT DISTINCT FROM d.hold_id AND c.order_id IS NOT DISTINCT FROM d.order_id;
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
      END LOOP;`;
const BY_JOIN = `
      DELETE FROM seat_claims c USING jsonb_to_recordset(p_deletes) AS d(seat_id text, kind text, hold_id text, order_id text)
        WHERE c.session_id = p_session AND c.seat_id = d.seat_id AND c.kind = d.kind
          AND c.hold_id IS NOT DISTINCT FROM d.hold_id AND c.order_id IS NOT DISTINCT FROM d.order_id;
      GET DIAGNOSTICS n = ROW_COUNT;`;

const seatCommit = (deletes: string) => `
    CREATE OR REPLACE FUNCTION seat_commit(p_session text, p_epoch bigint, p_version bigint, p_deletes jsonb, p_inserts jsonb, p_holds jsonb)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE n integer := 0; k integer; d record;
    BEGIN
      UPDATE seat_actors SET version = p_version, committed_at = now() WHERE session_id = p_session AND epoch = p_epoch;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'seat actor of session % lost epoch %', p_session, p_epoch USING ERRCODE = 'TF001';
      END IF;${deletes}
      IF n <> jsonb_array_length(p_deletes) THEN
        RAISE EXCEPTION 'seat claims of session % diverged: deleted % of %', p_session, n, jsonb_array_length(p_deletes) USING ERRCODE = 'TF002';
      END IF;
      INSERT INTO seat_claims (session_id, seat_id, kind, hold_id, order_id, user_id)
        SELECT p_session, r.seat_id, r.kind, r.hold_id, r.order_id, r.user_id
        FROM jsonb_to_recordset(p_inserts) AS r(seat_id text, kind text, hold_id text, order_id text, user_id text);
      INSERT INTO holds (id, session_id, user_id, items, quantity, expires_at, status, order_id, created_at, updated_at)
        SELECT r.id, p_session, r.user_id, r.items, r.quantity, r.expires_at, r.status, r.order_id, r.created_at, now()
        FROM jsonb_to_recordset(p_holds)
          AS r(id text, user_id text, items jsonb, quantity int, expires_at timestamptz, status text, order_id text, created_at timestamptz)
        ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, expires_at = EXCLUDED.expires_at,
          order_id = EXCLUDED.order_id, updated_at = now()
        WHERE holds.session_id = EXCLUDED.session_id;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n <> jsonb_array_length(p_holds) THEN
        RAISE EXCEPTION 'hold ids of session % collide with another session', p_session USING ERRCODE = 'TF003';
      END IF;
    END $$`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(seatCommit(BY_CLAIM));
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(seatCommit(BY_JOIN));
}
