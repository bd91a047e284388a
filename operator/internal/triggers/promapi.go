package triggers

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// This file parses the Prometheus HTTP API's instant query answer
// (https://prometheus.io/docs/prometheus/latest/querying/api/#instant-queries):
//
//	{"status":"success","data":{"resultType":"vector","result":[{"metric":{...},"value":[1700000000.1,"3"]}]}}
//	{"status":"success","data":{"resultType":"scalar","result":[1700000000.1,"3"]}}
//	{"status":"error","errorType":"bad_data","error":"parse error ..."}
//
// Only vector and scalar results are accepted; matrix and string results are errors.

// apiResponse is the envelope of every Prometheus API answer.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

type vectorSample struct {
	Metric map[string]string `json:"metric"`
	Value  json.RawMessage   `json:"value"`
}

// knownErrorTypes are Prometheus' own errorType values: short, fixed strings that may be shown to
// the ElastiService's author (the error text beside them may not: it can be anything).
var knownErrorTypes = map[string]bool{
	"bad_data": true, "timeout": true, "canceled": true, "execution": true, "internal": true,
	"unavailable": true, "not_found": true, "not_acceptable": true,
}

// errNoSamples is returned for an empty vector.
var errNoSamples = errors.New("the query returned no samples")

// parseSamples decodes an instant query answer into its sample values. An error answer, a
// malformed body or a result type other than vector and scalar is an error; an empty vector is
// errNoSamples. Errors never quote the body (they reach conditions and Events): only fixed text,
// Prometheus' known errorType values and the result type.
func parseSamples(body []byte) ([]float64, error) {
	var resp apiResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, errors.New("decoding Prometheus answer: not a JSON Prometheus API answer")
	}
	if resp.Status != "success" {
		if resp.Status == "error" && knownErrorTypes[resp.ErrorType] {
			return nil, fmt.Errorf("prometheus answered error %s (the operator's log has Prometheus' message)", resp.ErrorType)
		}
		return nil, errors.New("prometheus answered an error or an unknown status, expected \"success\"")
	}
	var data queryData
	if err := json.Unmarshal(resp.Data, &data); err != nil {
		return nil, errors.New("decoding Prometheus answer data: not an instant query answer")
	}
	switch data.ResultType {
	case "scalar":
		v, err := parsePair(data.Result)
		if err != nil {
			return nil, err
		}
		return []float64{v}, nil
	case "vector":
		var samples []vectorSample
		if err := json.Unmarshal(data.Result, &samples); err != nil {
			return nil, errors.New("decoding vector result: not a list of samples")
		}
		if len(samples) == 0 {
			return nil, errNoSamples
		}
		out := make([]float64, 0, len(samples))
		for _, s := range samples {
			v, err := parsePair(s.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	default:
		if data.ResultType == "matrix" || data.ResultType == "string" {
			return nil, fmt.Errorf("query result type %q is not supported; the query must return a scalar or an instant vector", data.ResultType)
		}
		return nil, errors.New("query result type is not supported; the query must return a scalar or an instant vector")
	}
}

// parsePair decodes a [<unix time>, "<value>"] pair and returns the value. Prometheus encodes
// values as strings, including "NaN", "+Inf" and "-Inf".
func parsePair(raw json.RawMessage) (float64, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return 0, errors.New("decoding sample: expected [<time>, \"<value>\"]")
	}
	var s string
	if err := json.Unmarshal(pair[1], &s); err != nil {
		return 0, errors.New("decoding sample value: expected a string")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errors.New("decoding sample value: not a number")
	}
	return v, nil
}

// reduce turns the samples into the one value compared with the threshold: the largest, so that
// the target is idle only when every series is below the threshold. NaN anywhere and -Inf are
// errors; +Inf is a (very busy) value.
func reduce(samples []float64) (float64, error) {
	v := math.Inf(-1)
	for _, s := range samples {
		if math.IsNaN(s) {
			return 0, errors.New("the query returned NaN (e.g. a division by zero); wrap it so that it returns a number")
		}
		v = math.Max(v, s)
	}
	if math.IsInf(v, -1) {
		return 0, errors.New("the query returned -Inf")
	}
	return v, nil
}

func truncate(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
