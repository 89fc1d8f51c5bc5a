import type { Knex } from "knex";

/**
 * seat_commit_many commits the batches of several sessions' seat actors in one call. Each actor
 * used to commit alone: with load spread over many sessions that was one call per hold or
 * release, and those calls took 71% of the embedded database's thread (bench/fixes.md, twelfth
 * round). Each batch still commits all or nothing and only under its actor's epoch: it runs
 * `seat_commit` in a block of its own (a subtransaction), so a batch that is refused (fenced,
 * diverged) is rolled back alone and reported, and the other sessions' batches commit. The
 * answer lists the refused batches: `[{ "i": <index in p_batches>, "code": <SQLSTATE>, "message" }]`.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION seat_commit_many(p_batches jsonb)
    RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE b record; refused jsonb := '[]'::jsonb;
    BEGIN
      FOR b IN SELECT x.value AS v, x.ordinality - 1 AS i FROM jsonb_array_elements(p_batches) WITH ORDINALITY AS x LOOP
        BEGIN
          PERFORM seat_commit(b.v->>'session', (b.v->>'epoch')::bigint, (b.v->>'version')::bigint,
                              b.v->'deletes', b.v->'inserts', b.v->'holds');
        EXCEPTION WHEN OTHERS THEN
          refused := refused || jsonb_build_array(jsonb_build_object('i', b.i, 'code', SQLSTATE, 'message', SQLERRM));
        END;
      END LOOP;
      RETURN refused;
    END $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("DROP FUNCTION IF EXISTS seat_commit_many(jsonb)");
}
