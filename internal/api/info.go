package api

// ModelInfo is the body of GET /model_info (and the deprecated /get_model_info).
type ModelInfo struct {
	ModelPath               string   `json:"model_path"`
	TokenizerPath           string   `json:"tokenizer_path"`
	IsGeneration            bool     `json:"is_generation"`
	PreferredSamplingParams any      `json:"preferred_sampling_params"`
	WeightVersion           string   `json:"weight_version"`
	HasImageUnderstanding   bool     `json:"has_image_understanding"`
	HasAudioUnderstanding   bool     `json:"has_audio_understanding"`
	ModelType               string   `json:"model_type"`
	Architectures           []string `json:"architectures"`
}

// ModelList is the body of GET /v1/models.
type ModelList struct {
	Object string      `json:"object"`
	Data   []ModelCard `json:"data"`
}

// ModelCard is one entry of ModelList.
type ModelCard struct {
	ID          string  `json:"id"`
	Object      string  `json:"object"`
	Created     int64   `json:"created"`
	OwnedBy     string  `json:"owned_by"`
	Root        string  `json:"root"`
	Parent      *string `json:"parent"`
	MaxModelLen int     `json:"max_model_len"`
}

// OwnedBy is the owned_by value SGLang puts on every model card.
const OwnedBy = "sglang"
