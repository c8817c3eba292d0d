variable "REGISTRY" {
  default = "reg.example"
}
variable "SUFFIX" {
  default = tagged("base", "x")
}
function "tagged" {
  params = [name, tag]
  result = "${REGISTRY}/${name}:${tag}"
}
function "joined" {
  params          = [sep]
  variadic_params = parts
  result          = join(sep, parts)
}
function "shout" {
  params = [text]
  result = upper(joined("", text, "!"))
}
group "default" {
  targets = ["app", "tools"]
}
target "app" {
  name       = "app-${tgt}"
  matrix     = { tgt = ["web", "api", "db"] }
  target     = tgt
  tags       = [tagged(tgt, "latest"), SUFFIX]
  args       = { LOUD = shout(tgt), ALL = joined("-", "a", "b", tgt) }
  platforms  = ["linux/amd64"]
}
target "tools" {
  name   = "tools-${replace(version, ".", "_")}"
  matrix = { version = ["1.0", "2.0"] }
  args   = { VERSION = version }
}
