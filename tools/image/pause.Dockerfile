# The pod-sandbox ("pause") image of the test node: containerd's CRI starts one per pod to hold
# its namespaces. Debian's static busybox sleeping forever does that job; the kubelet never pulls
# it (containerd's `sandbox_image = "docker.io/local/pause:1"`).
FROM scratch
COPY busybox /bin/busybox
USER 65535:65535
ENTRYPOINT ["/bin/busybox", "sleep", "2147483647"]
