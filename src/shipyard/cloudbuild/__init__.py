"""Cloud Build from a workstation: a manual submit of the build file, and the tag trigger."""
