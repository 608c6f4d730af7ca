#!/bin/sh
# Beam's --job_server_java_launcher for runners/*/run.sh: Java, tied to the
# launcher that starts it. Beam runs the job server as a child process, which
# a launcher killed with SIGKILL leaves behind (Beam stops it from an exit
# handler); setpriv's --pdeathsig has the kernel send it SIGKILL when its
# parent goes. On Spark the job server is the driver, so the application
# ends with it; a Flink job goes on, and the next run cancels it
# (pipeline/convert/earlier_jobs.py). Plain java where setpriv is missing.
if command -v setpriv >/dev/null 2>&1; then
  exec setpriv --pdeathsig KILL java "$@"
fi
exec java "$@"
