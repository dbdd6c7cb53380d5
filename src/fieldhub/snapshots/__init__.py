"""The Snapshots family: remote-camera snapshots in calls, mounted at ``/rtc-api/snapshots``."""
