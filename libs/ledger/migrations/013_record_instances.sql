-- pacspull ledger, version 13: the receiver's rows of one group commit in one statement
-- (issue 7). Until now each instance cost six statements in its transaction (ensure the
-- study, lock it, insert the series, insert the instance, touch the study, plus the
-- revive/deleted checks), each a round trip; this function does the same per row, in the
-- order given, inside the caller's transaction, so a batch is BEGIN, one SELECT, COMMIT.
--
-- The semantics are exactly receiver_store.cpp's record_instance, row by row:
--   * a study nobody asked for gets a row marked unsolicited;
--   * the study row is locked (FOR UPDATE) before any row referencing it is inserted (no
--     deadlock between concurrent first images of different series); the caller sorts the
--     rows by study and SOP UID so two receivers lock studies in the same order;
--   * the first acknowledged copy of an instance is never replaced (a duplicate changes
--     nothing); a copy placed again after its file left the store revives the row; a
--     duplicate whose copy was deleted meanwhile reports file_gone;
--   * a new instance touches its study (pulling; a settled study is reopened under a new
--     generation, with a "reopened" event);
--   * a new series gets its "new-series" event (detail written by the caller) and the raw
--     bytes of its decoded texts (text_raw, hex-encoded here so no byte is lost on the way).
-- The state names come from the caller (state_sql.hpp): none is written here.
-- Arrays are aligned by row (1-based); p_raw_row says which row a raw text belongs to.
-- SECURITY INVOKER (the default): the caller's table privileges apply.
CREATE OR REPLACE FUNCTION pacspull_record_instances(
  p_study text[], p_series text[], p_sop text[], p_path text[], p_bytes bigint[],
  p_accession text[], p_patient text[], p_study_date text[], p_modality text[],
  p_series_number integer[], p_series_description text[], p_calling_ae text[], p_receiver text[],
  p_file_placed boolean[], p_new_series_detail text[],
  p_raw_row integer[], p_raw_series_level boolean[], p_raw_attribute text[], p_raw_hex text[],
  p_raw_charset_hex text[], p_raw_decoded text[],
  p_unsolicited_state text, p_reopen_from text[], p_reopen_to text, p_arrived_from text[])
RETURNS TABLE (o_row integer, o_new_instance boolean, o_new_series boolean, o_reopened boolean,
               o_revived boolean, o_file_gone boolean)
LANGUAGE plpgsql AS $$
DECLARE
  i integer;
  v_before text;
  v_gone boolean;
  v_n bigint;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_sop, 1), 0) LOOP
    o_row := i;
    o_new_instance := false; o_new_series := false; o_reopened := false; o_revived := false; o_file_gone := false;
    INSERT INTO studies (study_uid, accession_number, patient_id, study_date, state, unsolicited, generation)
    VALUES (p_study[i], p_accession[i], p_patient[i], p_study_date[i], p_unsolicited_state, true, 1)
    ON CONFLICT (study_uid) DO NOTHING;
    SELECT s.state INTO v_before FROM studies s WHERE s.study_uid = p_study[i] FOR UPDATE;
    INSERT INTO series (series_uid, study_uid, modality, series_number, description, first_instance_path)
    VALUES (p_series[i], p_study[i], p_modality[i], p_series_number[i], p_series_description[i], p_path[i])
    ON CONFLICT (series_uid) DO NOTHING;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    o_new_series := v_n > 0;
    INSERT INTO instances (sop_uid, series_uid, study_uid, path, bytes, calling_ae, receiver)
    VALUES (p_sop[i], p_series[i], p_study[i], p_path[i], p_bytes[i], p_calling_ae[i], p_receiver[i])
    ON CONFLICT (sop_uid) DO NOTHING;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    o_new_instance := v_n > 0;
    IF NOT o_new_instance AND p_file_placed[i] THEN
      -- Its file left the store after hand-off (003_storage) and this copy is the file again.
      UPDATE instances SET deleted_at = NULL, path = p_path[i], bytes = p_bytes[i], receiver = p_receiver[i],
                           received_at = now()
      WHERE sop_uid = p_sop[i] AND deleted_at IS NOT NULL;
      GET DIAGNOSTICS v_n = ROW_COUNT;
      o_revived := v_n > 0;
      IF o_revived THEN
        UPDATE studies SET files_deleted_at = NULL, last_instance_at = now() WHERE study_uid = p_study[i];
      END IF;
    ELSIF NOT o_new_instance THEN
      -- Waits for a deletion in progress (it locks the row), then reads its outcome.
      SELECT deleted_at IS NOT NULL INTO v_gone FROM instances WHERE sop_uid = p_sop[i] FOR SHARE;
      o_file_gone := coalesce(v_gone, false);
    END IF;
    IF o_new_instance THEN
      UPDATE studies SET last_instance_at = now(),
        generation = CASE WHEN state = ANY(p_reopen_from) THEN generation + 1 ELSE generation END,
        state_changed_at = CASE WHEN state = p_reopen_to THEN state_changed_at ELSE now() END,
        state = p_reopen_to
      WHERE study_uid = p_study[i] AND state = ANY(p_arrived_from);
      o_reopened := v_before = ANY(p_reopen_from);
      IF o_reopened THEN
        INSERT INTO events (study_uid, series_uid, service, kind, detail)
        VALUES (nullif(p_study[i], ''), nullif(p_series[i], ''), 'receiver', 'reopened',
                'new image for a ' || v_before || ' study: it goes round again');
      END IF;
    END IF;
    IF o_new_series THEN
      INSERT INTO events (study_uid, series_uid, service, kind, detail)
      VALUES (nullif(p_study[i], ''), nullif(p_series[i], ''), 'receiver', 'new-series', p_new_series_detail[i]);
      -- Study-level texts, then series-level ones; the first record of an attribute wins.
      FOR v_n IN SELECT j FROM generate_subscripts(p_raw_row, 1) AS j
                 WHERE p_raw_row[j] = i ORDER BY NOT p_raw_series_level[j] DESC, j LOOP
        INSERT INTO text_raw (study_uid, series_uid, attribute, raw, specific_character_set, decoded, source)
        VALUES (p_study[i], CASE WHEN p_raw_series_level[v_n] THEN p_series[i] ELSE '' END, p_raw_attribute[v_n],
                decode(p_raw_hex[v_n], 'hex'), decode(p_raw_charset_hex[v_n], 'hex'), p_raw_decoded[v_n], 'receiver')
        ON CONFLICT (study_uid, series_uid, attribute) DO NOTHING;
      END LOOP;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$;
