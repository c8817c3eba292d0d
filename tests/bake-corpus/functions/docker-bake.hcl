variable "NAMES" {
  default = ["alpha", "beta", "gamma", "beta"]
}
variable "EARLY" {
  default = try("${LATE}-x", "too-early")
}
variable "VERSION" {
  default = "v1.20.3"
}
variable "PARTS" {
  default = split(".", trimprefix(VERSION, "v"))
}
target "default" {
  tags = concat(
    [for n in distinct(NAMES) : "reg/${n}:${PARTS[0]}.${PARTS[1]}"],
    [join(",", reverselist(sort(NAMES))), reverse("abc")],
  )
  args = {
    UPPER     = upper(VERSION)
    TITLE     = title("hello bake world")
    LEN       = length(NAMES)
    STRLEN    = strlen(VERSION)
    SUB       = substr(VERSION, 1, 4)
    REPLACED  = replace(VERSION, ".", "-")
    TRIMMED   = trimspace("  spaced  ")
    TRIMSUF   = trimsuffix("image.tar", ".tar")
    CHOMP     = chomp("line\n")
    ELEMENT   = element(NAMES, 5)
    INDEX     = index(NAMES, 2)
    CONTAINS  = contains(NAMES, "beta")
    MATH      = add(multiply(3, 4), subtract(10, divide(8, 2)))
    MAX       = max(3, 9, 4)
    MIN       = min(3, 9, 4)
    FLOOR     = floor(2.7)
    CEIL      = ceil(2.1)
    MOD       = modulo(10, 3)
    COND      = equal(PARTS[0], "1") ? "one" : "other"
    NOT       = notequal(1, 2)
    LOGIC     = and(true, or(false, not(false)))
    LOOKUP    = lookup({ a = "x" }, "b", "fallback")
    KEYS      = join("+", keys({ z = 1, a = 2 }))
    JSON      = jsonencode({ list = [1, 2], name = "n" })
    DECODED   = jsondecode("{\"k\": \"v\"}").k
    FORMAT    = format("%s-%d", "build", 42)
    COALESCE  = coalesce("", "first")
    SLICE     = join(",", slice(NAMES, 1, 3))
    FLATTEN   = length(flatten([[1, 2], [3, [4]]]))
    COMPACT   = length(compact(["a", "", "b"]))
    MERGED    = jsonencode(merge({ a = 1 }, { b = 2 }))
    ZIPPED    = jsonencode(zipmap(["x", "y"], [1, 2]))
    VALUES    = join(",", values({ a = "1", b = "2" }))
    NEGATE    = negate(5)
    ABS       = absolute(-3)
    INT       = int(7.9)
    TEMPLATE  = "%{ for n in PARTS }<${n}>%{ endfor }"
    LOWER     = lower("MiXeD")
    TRIM      = trim("--x--", "-")
    COMPARE   = jsonencode([greaterthan(2, 1), lessthan(2, 1), greaterthanorequalto(2, 2), lessthanorequalto(3, 2)])
    STRINGIFY = 1.5
    BOOL      = true
    EXPR      = 7 % 3 == 1 && !false ? "${2 * 21}" : "no"
    B64       = base64encode("bake & build")
    UNB64     = base64decode("aGVsbG8=")
    SHA256    = sha256("depot")
    SHA512    = substr(sha512("depot"), 0, 16)
    URL       = urlencode("a b&c=d/é")
    RANGE     = jsonencode([range(3), range(1, 4), range(10, 0, -3)])
    PARSEINT  = parseint("ff", 16) + parseint("-101", 2)
    POW       = pow(2, 10)
    SIGNUM    = jsonencode([signum(-3), signum(0), signum(7)])
    HASINDEX  = jsonencode([hasindex(NAMES, 1), hasindex(NAMES, 9)])
    CHUNKS    = jsonencode(chunklist(NAMES, 3))
    COALESCEL = jsonencode(coalescelist([], ["x"]))
    INDENT    = indent(2, "a\nb")
    REGEXREP  = regex_replace("v1.2.3", "[.]", "_")
    SETUNION  = jsonencode(setunion(["b", "a"], ["c", "a"]))
    SETINTER  = jsonencode(setintersection(["b", "a", "c"], ["c", "a"]))
    SETSUB    = jsonencode(setsubtract(["b", "a", "c"], ["a"]))
    SETHAS    = sethaselement(["a"], "a")
    SETSYM    = jsonencode(setsymmetricdifference(["a", "b"], ["b", "c"]))
    SETPROD   = jsonencode(setproduct(["a", "b"], ["1", "2"]))
    MD5       = md5("depot")
    SHA1      = sha1("depot")
    LOG       = log(8, 2)
    REGEX     = jsonencode(regex("^v([0-9]+)", VERSION))
    REGEXALL  = jsonencode(regexall("[0-9]+", VERSION))
    REGEXNAME = jsonencode(regex("(?P<major>[0-9]+)[.](?P<minor>[0-9]+)", VERSION))
    REGEXPLAIN = regex("[a-z]+", "123abc456")
    FORMATLST = jsonencode(formatlist("%s=%s", ["a", "b"], "x"))
    UUIDLEN   = strlen(uuidv4())
    DATE      = formatdate("EEEE, DD-MMM-YY hh:mm:ss ZZZ", "2018-01-02T23:12:01-08:00")
    DATE12    = formatdate("H 'o''clock' AA, MMMM D YYYY (Z, ZZZZZ)", "2024-06-30T00:05:09Z")
    LATER     = timeadd("2017-11-22T00:00:00+02:00", "-1.5h")
    SOON      = timeadd("2017-11-22T23:59:59Z", "1m30s")
    NOWLEN    = strlen(timestamp())
    HOST      = cidrhost("10.12.112.0/20", -1)
    HOST6     = cidrhost("fd00:fd12:3456:7890:00a2::/72", 34)
    NETMASK   = cidrnetmask("172.16.0.0/12")
    SUBNET    = cidrsubnet("fd00:fd12:3456:7890::/56", 16, 162)
    SUBNETS   = jsonencode(cidrsubnets("10.1.0.0/16", 4, 4, 8, 4))
    UUID5     = uuidv5("dns", "www.example.com")
    UUID5URL  = uuidv5("url", VERSION)
    CSV       = jsonencode(csvdecode("name,tag\napp,\"v1,v2\"\nworker,latest\n"))
    TRY       = try(NAMES[9], "fallback")
    TRYLIST   = jsonencode(try(split(",", NAMES), NAMES))
    CAN       = jsonencode([can(NAMES[9]), can(NAMES[1]), can(regex("^v", VERSION))])
    TRYTPL    = "v-${try(PARTS[7], PARTS[0])}"
    FROMLATER = EARLY
    BCRYPT    = "${substr(bcrypt(VERSION, 5), 0, 7)}${strlen(bcrypt(VERSION, 4))}"
  }
}
variable "LATE" {
  default = upper(VERSION)
}
