"""Cloud Build's API, through gcloud: a manual submit of the build file, and the tag trigger.
(Running the build file on this machine is local parity's job, not this package's.)"""
