// Package baseline keeps blessed baselines on disk: per scenario, per
// fingerprint, the per-repeat values of every figure, as versioned JSON in
// a directory the user commits (baselines/ by default).
//
// # Reading guide
//
//   - fingerprint.go: Fingerprint, what makes numbers comparable, and Diff,
//     the fields in which two differ; CPUModel, GPUDriver, PackageVersion
//     and SgltestVersion read what fills it.
//   - baseline.go: File and Baseline (the schema), Path and Slug (where a
//     scenario's file lives), Load (refuses another fingerprint with a
//     *MismatchError naming the differing fields), Save (the only way to
//     write, atomic) and Read.
//
// # The file format (schema_version 1)
//
// baselines/<slug>.json, <slug> the scenario's name lower-cased with every
// run of other characters turned into '-':
//
//	{
//	  "schema_version": 1,
//	  "scenario": "a moderate Poisson load on one simulated GPU",
//	  "baselines": [                         // one entry per fingerprint
//	    {
//	      "fingerprint": {
//	        "backend": "sim",                // "sim" or "sglang"
//	        "clock": "virtual",              // "virtual" or "real"
//	        "sim_profile": "llama-3.1-8b-h100",
//	        "model": "meta-llama/Llama-3.1-8B-Instruct",
//	        "gpu_model": "", "gpu_driver": "",
//	        "sglang_version": "0.5.2",
//	        "router": "",                    // e.g. "sglang-router 0.3.2"
//	        "cpu_model": "AMD EPYC 7763 64-Core Processor",
//	        "sgltest_version": "v0.4.0"
//	      },
//	      "saved_at": "2026-11-20T14:03:00Z",
//	      "repeats": 5,
//	      "seeds": [1, 2, 3, 4, 5],           // optional, one per repeat
//	      "runs": ["reports/…", …],           // optional, one per repeat
//	      "figures": [
//	        {"name": "ttft_ms.p99", "label": "P99 TTFT", "unit": "ms",
//	         "worse": "higher", "values": [52.49, 47.1, 60.33, 55.02, 49.87]},
//	        …
//	      ]
//	    }
//	  ]
//	}
//
// testdata/example.json is a complete file. Every fingerprint field is
// written; an empty one means "not applicable" and matches only another
// empty one. sgltest's runner fills a run's fingerprint (its
// fingerprint.json) from what the run knows: backend, clock ("virtual" or
// "real"), the simulator profile, the model, the GPUs' names from NVML
// telemetry and the driver from /proc/driver/nvidia/version (GPUDriver),
// the SGLang version (the simulator's, or the installed distribution's),
// the router ("sgltest dispatcher", or "sglang-router 0.3.2" and "smg
// 1.9.0" read from their venvs by PackageVersion), the CPU (CPUModel; left
// empty in virtual time, whose figures are computed, not timed, and do not
// depend on the host) and sgltest's version (SgltestVersion: a release
// tag, or "devel" for every development build). A field that applies but
// cannot be read says "unknown (why)". backend, clock, saved_at and sgltest_version are required.
// Figure names are their summary.json paths (gate.Catalog), "worse" is
// the direction in which the figure gets worse, and every figure has one
// value per repeat, finite and not negative. Unknown keys, another
// schema_version, two entries with one fingerprint and a file recorded for
// another scenario whose name gives the same slug are all refused with the
// file and field named.
//
// # Comparability
//
// Load returns the entry whose fingerprint equals the current one in every
// field, and otherwise refuses, listing for each stored entry (closest
// first) the fields that differ with both values. Nothing is ever compared
// across set-ups; blessing a new set-up is Save, an explicit step that
// replaces only the entry with the same fingerprint. Save writes a
// temporary file in the same directory, syncs it and renames it over the
// old file, so readers never see a torn file.
package baseline
