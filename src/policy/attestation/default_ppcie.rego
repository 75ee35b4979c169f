# cocokit default attestation policy for the NVIDIA protected-PCIe topology (policy id `default_ppcie`).
#
# The verifier adds a PPCIe submodule only after it found a valid protected-PCIe topology, so the
# configuration is approved (2) by construction; hardware and executables make no assertion here because
# each GPU and switch has its own submodule and appraisal (specs/kbs-protocol.md §3.3). Claim values as in
# Trustee's default PPCIe policy.

package policy

import rego.v1

default hardware := 0
default executables := 0
default configuration := 2
default file_system := 0
default instance_identity := 0
default runtime_opaque := 0
default storage_opaque := 0
default sourced_data := 0

trust_claims := {
	"executables": executables,
	"hardware": hardware,
	"configuration": configuration,
	"file-system": file_system,
	"instance-identity": instance_identity,
	"runtime-opaque": runtime_opaque,
	"storage-opaque": storage_opaque,
	"sourced-data": sourced_data,
}
