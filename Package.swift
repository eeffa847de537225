// swift-tools-version: 6.1
// otptoken: two-step login with USB one-time-password tokens: the wire codec, the OTP maths,
// the token firmware simulator, the host driver, the shared verifier and the `otptoken` command.
import PackageDescription

/// How the deployed executables (and the test bundle, which links their objects) are linked on
/// Linux: by lld, with relative relocations packed (DT_RELR, glibc 2.36 and later) and no exported
/// symbol table. The loader then has no 3.4 MB relocation table and no 50,000 exported symbols to
/// read, which keeps 5 to 7 MB of the binary out of each process's resident memory
/// (docs/performance.md).
let compactExecutable: [LinkerSetting] = [
  .unsafeFlags(
    ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic"],
    .when(platforms: [.linux]))
]

let package = Package(
  name: "otptoken",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "otptoken", targets: ["otptoken"]),
    .executable(name: "otptoken-dev", targets: ["otptoken-dev"]),
    .library(name: "OTPWire", targets: ["OTPWire"]),
    .library(name: "OneTimePassword", targets: ["OneTimePassword"]),
    .library(name: "TokenSimulator", targets: ["TokenSimulator"]),
    .library(name: "TokenSimulatorUHID", targets: ["TokenSimulatorUHID"]),
    .library(name: "TokenSimulatorUSBIP", targets: ["TokenSimulatorUSBIP"]),
    .library(name: "TokenDriver", targets: ["TokenDriver"]),
    .library(name: "Verifier", targets: ["Verifier"]),
    .library(name: "VerifierSQLite", targets: ["VerifierSQLite"]),
    .library(name: "SeedImport", targets: ["SeedImport"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
  ],
  targets: [
    // Pure codec of the YubiKey OTP HID protocol, shared by the driver and the firmware.
    .target(name: "OTPWire"),
    // HOTP/TOTP, base32, otpauth URIs, constant-time comparison.
    .target(
      name: "OneTimePassword",
      dependencies: ["CLibCrypto", .product(name: "Crypto", package: "swift-crypto")]
    ),
    // OpenSSL's libcrypto, for SHA-1's block function on the CPU's SHA instructions; reached from
    // OneTimePassword only.
    .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
    // The virtual HID wire format (Unix socket) shared by the simulator daemon and the driver.
    .target(name: "VirtualHID"),
    // The token firmware as a pure state machine behind a platform protocol.
    .target(
      name: "TokenFirmware",
      dependencies: [
        "OTPWire", "OneTimePassword", .product(name: "Crypto", package: "swift-crypto"),
      ],
      path: "firmware-sim/Sources/TokenFirmware"
    ),
    // Host platform, the in-process back-end of the device protocol and the socket daemon.
    .target(
      name: "TokenSimulator",
      dependencies: ["TokenFirmware", "OTPWire", "VirtualHID", "TokenTransport"],
      path: "firmware-sim/Sources/TokenSimulator"
    ),
    // USB/IP (the Linux kernel's protocol for USB over TCP) as a pure codec, for the simulator's
    // USB/IP front end.
    .target(name: "USBIPWire", path: "firmware-sim/Sources/USBIPWire"),
    // Linux UHID's packed event structure as functions over bytes; reached from TokenSimulatorUHID only.
    .target(name: "CUHID", path: "firmware-sim/Sources/CUHID"),
    // The simulated token as a real kernel HID device (/dev/uhid -> /dev/hidrawN), for VMs.
    .target(
      name: "TokenSimulatorUHID",
      dependencies: ["CUHID", "TokenSimulator", "TokenFirmware", "OTPWire"],
      path: "firmware-sim/Sources/TokenSimulatorUHID"
    ),
    // The simulated token as a USB device over USB/IP (`usbip attach`, the kernel's vhci-hcd):
    // its descriptors, its control and interrupt transfers, and the TCP server.
    .target(
      name: "TokenSimulatorUSBIP",
      dependencies: ["USBIPWire", "TokenSimulator", "TokenFirmware", "OTPWire"],
      path: "firmware-sim/Sources/TokenSimulatorUSBIP"
    ),
    // C libraries, each reached from HIDAPITransport only.
    .systemLibrary(
      name: "CHIDAPI", pkgConfig: "hidapi-hidraw", providers: [.apt(["libhidapi-dev"])]),
    .systemLibrary(name: "CLibUSB", pkgConfig: "libusb-1.0", providers: [.apt(["libusb-1.0-0-dev"])]),
    // The device transport protocol, the simulated tokens' socket back-end, hot-plug debouncing.
    .target(name: "TokenTransport", dependencies: ["OTPWire", "VirtualHID"]),
    // Real tokens: hidapi (hidraw) and libusb hot-plug events.
    .target(name: "HIDAPITransport", dependencies: ["CHIDAPI", "CLibUSB", "TokenTransport", "OTPWire"]),
    // Token sessions as Yubico's host libraries run them, and discovery across the back-ends given
    // to it (no C library: the command line adds hidapi).
    .target(name: "TokenDriver", dependencies: ["OTPWire", "OneTimePassword", "TokenTransport"]),
    // The shared verifier: users, factors, the decision engine, the storage protocol, sealing.
    .target(
      name: "Verifier",
      dependencies: [
        "OneTimePassword", .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "CryptoExtras", package: "swift-crypto"),
      ]),
    // The embedded SQLite store (GRDB): WAL, synchronous=FULL, compare-and-set counters. The
    // verification's statements run through SQLite's C API (GRDBSQLite, GRDB's own module for it).
    .target(
      name: "VerifierSQLite",
      dependencies: [
        "Verifier", "OneTimePassword", .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "GRDBSQLite", package: "GRDB.swift"),
      ]),
    // The shared store for several machines: PostgreSQL through postgres-nio, one conditional UPDATE
    // per decision, migrations under an advisory lock.
    .target(
      name: "VerifierPostgres",
      dependencies: [
        "Verifier", "OneTimePassword", .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ]),
    // The verifier as an authenticated JSON service over HTTP (Hummingbird), with metrics and logs.
    .target(
      name: "VerifierService",
      dependencies: [
        "Verifier", "OneTimePassword", "BrowserInput", .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdCore", package: "hummingbird"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
        .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ],
      resources: [.copy("openapi.json")]),
    // The pages people sign in on and manage their factors with, and the administrators' pages:
    // server-rendered (Mustache), in English and Russian, on the service's router.
    // RADIUS (RFC 2865) as a pure codec: packets, the hidden password, the authenticators.
    .target(
      name: "RADIUS",
      dependencies: ["OneTimePassword", .product(name: "Crypto", package: "swift-crypto")]),
    // The verifier over RADIUS, for network devices and pam_radius_auth: a UDP listener (NIO).
    .target(
      name: "VerifierRADIUS",
      dependencies: [
        "RADIUS", "Verifier", .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
      ]),
    // The configuration file of `serve` (YAML): read, checked, and errors with their line.
    .target(
      name: "ServiceConfiguration",
      dependencies: ["Verifier", .product(name: "Yams", package: "Yams")]),
    // What browsers send the pages: form bodies and Accept-Language, decoded without trust.
    .target(name: "BrowserInput"),
    .target(
      name: "VerifierWeb",
      dependencies: [
        "BrowserInput", "Verifier", "VerifierService", "OneTimePassword", "QRCode",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Mustache", package: "swift-mustache"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ],
      resources: [.copy("Templates"), .copy("Texts"), .copy("Static")]),
    // Vendor seed files: PSKC (RFC 6030), plain, pre-shared key and PBKDF2.
    .target(
      name: "SeedImport",
      dependencies: [
        "Verifier", "OneTimePassword", .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "CryptoExtras", package: "swift-crypto"),
      ]),
    // Registering tokens to users, one at a time or in batches: the driver and the verifier together.
    .target(
      name: "Enrollment",
      dependencies: ["OTPWire", "OneTimePassword", "TokenDriver", "TokenTransport", "Verifier"]),
    // QR codes for phone-app enrolment, through libqrencode (reached from QRCode only).
    .systemLibrary(name: "CQREncode", pkgConfig: "libqrencode", providers: [.apt(["libqrencode-dev"])]),
    .target(name: "QRCode", dependencies: ["CQREncode"]),
    // The command tree of `otptoken`; the executable only calls it.
    .target(
      name: "OTPTokenCLI",
      dependencies: [
        "OTPWire", "TokenSimulator", "TokenSimulatorUHID", "TokenSimulatorUSBIP", "VirtualHID", "TokenDriver",
        "TokenTransport",
        "HIDAPITransport",
        "Verifier", "VerifierSQLite", "VerifierPostgres", "VerifierService", "VerifierWeb", "VerifierRADIUS",
        "ServiceConfiguration", "SeedImport",
        "OneTimePassword",
        "Enrollment", "QRCode", .product(name: "Logging", package: "swift-log"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    .executableTarget(name: "otptoken", dependencies: ["OTPTokenCLI"], linkerSettings: compactExecutable),
    // Tools for the project's developers, kept out of the user's command: `otptoken-dev bench`
    // and `otptoken-dev load-prepare`.
    .target(
      name: "OTPTokenDevTools",
      dependencies: [
        "OTPTokenCLI", "Verifier", "VerifierSQLite", "OneTimePassword",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .executableTarget(
      name: "otptoken-dev", dependencies: ["OTPTokenDevTools"], linkerSettings: compactExecutable),

    // The fuzzers of every parser that takes outside bytes, in one executable (scripts/fuzz.sh
    // builds it for libFuzzer; built normally it replays corpus files, as make test does).
    .target(name: "FuzzSupport", path: "Fuzz/FuzzSupport"),
    .executableTarget(
      name: "otptoken-fuzz",
      dependencies: [
        "FuzzSupport", "OTPWire", "VirtualHID", "OneTimePassword", "Verifier", "SeedImport", "Enrollment",
        "BrowserInput", "RADIUS", "USBIPWire", "TokenSimulator", "TokenSimulatorUSBIP",
      ],
      path: "Fuzz/otptoken-fuzz"),

    // The yubikit reference trace as test vectors, shared by the codec, firmware and driver tests.
    .target(
      name: "WireVectors", dependencies: ["OTPWire"], path: "Tests/WireVectors",
      resources: [.copy("yubikit-trace.txt")]),
    .testTarget(name: "OTPWireTests", dependencies: ["OTPWire", "WireVectors"]),
    .testTarget(
      name: "OneTimePasswordTests",
      dependencies: ["OneTimePassword", .product(name: "Crypto", package: "swift-crypto")],
      resources: [.copy("Vectors")]
    ),
    .testTarget(name: "VirtualHIDTests", dependencies: ["VirtualHID"]),
    .testTarget(name: "QRCodeTests", dependencies: ["QRCode"]),
    // Scratch folders for tests, removed when the test process exits.
    .target(name: "TestScratch", path: "Tests/TestScratch"),
    // The throw-away PostgreSQL server of `make test`, shared by the suites that need one.
    .target(name: "PostgresTestSupport", path: "Tests/PostgresTestSupport"),
    // Every store kind a suite runs against (memory, SQLite, PostgreSQL when a server is up), and
    // a verifier fixture with one user and one token.
    .target(
      name: "StoreFixtures",
      dependencies: [
        "Verifier", "VerifierSQLite", "VerifierPostgres", "OneTimePassword", "PostgresTestSupport",
        "TestScratch",
      ],
      path: "Tests/StoreFixtures"),
    .testTarget(
      name: "VerifierTests",
      dependencies: ["Verifier", "VerifierSQLite", "OneTimePassword", "StoreFixtures"]),
    .testTarget(
      name: "VerifierSQLiteTests",
      dependencies: [
        "VerifierSQLite", "Verifier", "OneTimePassword", "StoreFixtures",
        .product(name: "GRDB", package: "GRDB.swift"),
      ]),
    .testTarget(
      name: "VerifierPostgresTests",
      dependencies: [
        "VerifierPostgres", "Verifier", "OneTimePassword", "StoreFixtures", "PostgresTestSupport",
        .product(name: "PostgresNIO", package: "postgres-nio"),
      ]),
    .testTarget(
      name: "SeedImportTests",
      dependencies: [
        "SeedImport", "Verifier", "OneTimePassword", "StoreFixtures",
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "CryptoExtras", package: "swift-crypto"),
      ],
      resources: [.copy("PSKC")]),
    .testTarget(
      name: "VerifierServiceTests",
      dependencies: [
        "VerifierService", "Verifier", "VerifierSQLite", "OneTimePassword",
        "TestScratch", .product(name: "HummingbirdTesting", package: "hummingbird"),
      ]),
    .testTarget(name: "RADIUSTests", dependencies: ["RADIUS"]),
    .testTarget(
      name: "USBIPWireTests", dependencies: ["USBIPWire"], path: "firmware-sim/Tests/USBIPWireTests"),
    .testTarget(
      name: "VerifierRADIUSTests",
      dependencies: [
        "VerifierRADIUS", "RADIUS", "Verifier", "StoreFixtures",
        .product(name: "NIOPosix", package: "swift-nio"),
      ]),
    .testTarget(
      name: "ServiceConfigurationTests", dependencies: ["ServiceConfiguration", "Verifier", "TestScratch"]),
    .testTarget(
      name: "VerifierWebTests",
      dependencies: [
        "VerifierWeb", "BrowserInput", "VerifierService", "Verifier", "VerifierSQLite", "OneTimePassword",
        "TestScratch", .product(name: "HummingbirdTesting", package: "hummingbird"),
      ]),
    // Two `otptoken serve` nodes on one PostgreSQL database, hammered, killed and cut off.
    .testTarget(
      name: "ServiceClusterTests",
      dependencies: [
        "otptoken", "Verifier", "VerifierPostgres", "OneTimePassword", "PostgresTestSupport", "TestScratch",
      ]),
    // Runs the built binary as a user would.
    .testTarget(
      name: "OTPTokenCLITests",
      dependencies: [
        "otptoken", "otptoken-dev", "OTPTokenDevTools", "OneTimePassword", "TestScratch", "StoreFixtures",
        "Verifier", "VerifierSQLite",
      ]),
    // The driver against simulated tokens alone: no hidapi, no libusb.
    .testTarget(
      name: "TokenDriverTests",
      dependencies: [
        "TokenDriver", "TokenTransport", "TokenSimulator", "TokenFirmware", "OTPWire", "OneTimePassword",
        "VirtualHID", "WireVectors", "TestScratch",
      ],
      resources: [.copy("Transcripts")]),
    .testTarget(name: "TokenTransportTests", dependencies: ["TokenTransport"]),
    .testTarget(
      name: "EnrollmentTests",
      dependencies: [
        "Enrollment", "TokenDriver", "TokenTransport", "TokenSimulator", "Verifier", "OTPWire", "TestScratch",
      ]),
    .testTarget(name: "HIDAPITransportTests", dependencies: ["HIDAPITransport"]),
    .testTarget(
      name: "TokenFirmwareTests",
      dependencies: ["TokenFirmware", "OTPWire", "OneTimePassword", "WireVectors"],
      path: "firmware-sim/Tests/TokenFirmwareTests"
    ),
    .testTarget(
      name: "TokenSimulatorTests",
      dependencies: ["TokenSimulator", "VirtualHID", "OTPWire", "OneTimePassword", "TestScratch"],
      path: "firmware-sim/Tests/TokenSimulatorTests"
    ),
    .testTarget(
      name: "TokenSimulatorUHIDTests",
      dependencies: ["TokenSimulatorUHID", "TokenSimulator", "OTPWire", "OneTimePassword"],
      path: "firmware-sim/Tests/TokenSimulatorUHIDTests"
    ),
    .testTarget(
      name: "TokenSimulatorUSBIPTests",
      dependencies: ["TokenSimulatorUSBIP", "USBIPWire", "TokenSimulator", "OTPWire", "TestScratch"],
      path: "firmware-sim/Tests/TokenSimulatorUSBIPTests",
      resources: [.copy("Recordings")]
    ),
  ],
  swiftLanguageModes: [.v6]
)
