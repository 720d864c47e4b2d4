//! The `schedules` table: each schedule's last slot fired, and the stream
//! version it was fired at.

use crate::envelope::RecordedEvent;
use crate::event::ScheduleFired;
use diesel::prelude::*;
use sluice_schema::schema::schedules;

pub(super) fn fired(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    fired: &ScheduleFired,
) -> QueryResult<()> {
    let name = match fired.job_id {
        Some(job) => format!("job:{job}"),
        None => fired.schedule.clone(),
    };
    diesel::insert_into(schedules::table)
        .values((
            schedules::schedule_id.eq(event.stream_id),
            schedules::name.eq(&name),
            schedules::last_slot.eq(fired.slot),
            schedules::fired_at.eq(event.recorded_at),
            schedules::version.eq(event.stream_version),
        ))
        .on_conflict(schedules::schedule_id)
        .do_update()
        .set((
            schedules::last_slot.eq(fired.slot),
            schedules::fired_at.eq(event.recorded_at),
            schedules::version.eq(event.stream_version),
        ))
        .execute(conn)?;
    Ok(())
}
