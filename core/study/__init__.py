"""Studies at scale: every recording of a study spotted on Ray, resumably, and summarised per
participant and per condition (bootstrap CIs over participants).

Modules (Ray and the pipeline are imported only when a study runs):
  manifest  a study: a CSV manifest or a folder of clips -> `Study`
  run       `run_study` (the verb's and a page's one call), `study_status`, `study_id`
  worker    the body of one Ray task: one clip through `core.micro.pipeline.spot_video`, or a
            part of a long clip (`track_part`) and the task that joins and spots them
  status    each clip's state in the results store's file (queued, running, done, failed, attempts)
  summary   the tables: intervals, clips, participants, conditions
  outputs   the files, written once at the end, atomically
  stored    a finished run read back from the store (the Study page)
  upload    an uploaded manifest placed beside the clips it names (the Study page)
"""
