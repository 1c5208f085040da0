-- pacspull ledger, version 16: cancelled RIS procedure steps leave the merge (issue 9 part 9).
-- The worklist query asks each step's ScheduledProcedureStepStatus (0040,0020). A step the RIS
-- answers CANCELED or DISCONTINUED (pipeline::is_cancelled_step_status) no longer counts in its
-- order (ris_orders: body parts, priority, schedule) nor in the patient's steps of the day
-- (rules.ris.tolerance); its row stays, marked, so `pullctl why` can say what was cancelled.
--   status:       the step's ScheduledProcedureStepStatus as last answered (trimmed,
--                 upper-cased; '' when the RIS does not answer it);
--   cancelled_at: when the finder first saw the step cancelled; NULL while it counts (a step
--                 the RIS puts back to SCHEDULED counts again).
-- A step that simply disappears from the worklist is NOT cancelled: performed steps leave the
-- worklist too, and their body parts must stay in the order.
-- ris_orders.steps now counts the steps merged (not cancelled); cancelled_steps the others. An
-- order whose every step is cancelled keeps its row with no body parts and no priority: the
-- filter's RIS rule then does not apply to its study (as with no order at all).
-- Grants: new columns of tables the roles already hold (migration 14); no role_grants change.
ALTER TABLE ris_order_steps
  ADD COLUMN status       text NOT NULL DEFAULT '',
  ADD COLUMN cancelled_at timestamptz;

ALTER TABLE ris_orders ADD COLUMN cancelled_steps integer NOT NULL DEFAULT 0;
