# previewd's Nomad ACL policy: what its token calls in its namespace ("default" here;
# use NOMAD_NAMESPACE's). Jobs are parsed, registered (service and the e2e gate's batch
# test jobs), read, listed, stopped and purged; read-logs reads a finished test job's
# output through /v1/client/fs/logs (command/agent/fs_endpoint.go), needed only when a
# repo has e2e tests. Apply: nomad acl policy apply previewd deploy/previewd-nomad-policy.hcl
# then: nomad acl token create -name previewd -policy previewd
namespace "default" {
  capabilities = ["submit-job", "read-job", "list-jobs", "parse-job", "read-logs"]
}
