package runtime

// SDKVersion is the version of github.com/faas-flow/faas-flow that the
// faas-flow template's go.mod files require. A release tags the module with
// it; TestTemplatePinsTheSDKVersion keeps the template in step.
const SDKVersion = "v0.1.0"
