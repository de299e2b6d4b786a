// Package openrtb holds the subset of the OpenRTB 2.6 object model that ASAP sends
// and receives, written by hand because no OpenRTB module is reachable from this
// project's module proxy.
//
// Field names and JSON keys follow the specification. Every ext is raw JSON, kept as
// the peer sent it. Decoding tolerates unknown fields, as the specification requires
// ("must tolerate receiving new or unexpected fields"); encoding omits empty fields so
// that a BidRequest carries only what ASAP knows.
package openrtb

import "encoding/json"

// Version is the value of the x-openrtb-version header ASAP sends.
const Version = "2.6"

// BidRequest is the top-level request object (OpenRTB 2.6 §3.2.1).
type BidRequest struct {
	ID     string          `json:"id"`
	Imp    []Imp           `json:"imp"`
	App    *App            `json:"app,omitempty"`
	Device *Device         `json:"device,omitempty"`
	User   *User           `json:"user,omitempty"`
	Test   int8            `json:"test,omitempty"`
	At     int             `json:"at,omitempty"`
	Tmax   int64           `json:"tmax,omitempty"`
	Cur    []string        `json:"cur,omitempty"`
	Bcat   []string        `json:"bcat,omitempty"`
	Badv   []string        `json:"badv,omitempty"`
	Source *Source         `json:"source,omitempty"`
	Regs   *Regs           `json:"regs,omitempty"`
	Ext    json.RawMessage `json:"ext,omitempty"`
}

// Imp is one impression offered (§3.2.4).
type Imp struct {
	ID                string          `json:"id"`
	Banner            *Banner         `json:"banner,omitempty"`
	Video             *Video          `json:"video,omitempty"`
	Audio             *Audio          `json:"audio,omitempty"`
	Native            *Native         `json:"native,omitempty"`
	DisplayManager    string          `json:"displaymanager,omitempty"`
	DisplayManagerVer string          `json:"displaymanagerver,omitempty"`
	Instl             int8            `json:"instl,omitempty"`
	TagID             string          `json:"tagid,omitempty"`
	BidFloor          float64         `json:"bidfloor,omitempty"`
	BidFloorCur       string          `json:"bidfloorcur,omitempty"`
	Secure            *int8           `json:"secure,omitempty"`
	Rwdd              int8            `json:"rwdd,omitempty"`
	Exp               int64           `json:"exp,omitempty"`
	Ext               json.RawMessage `json:"ext,omitempty"`
}

// Banner is a banner impression (§3.2.6).
type Banner struct {
	Format []Format        `json:"format,omitempty"`
	W      int64           `json:"w,omitempty"`
	H      int64           `json:"h,omitempty"`
	BType  []int           `json:"btype,omitempty"`
	BAttr  []int           `json:"battr,omitempty"`
	Pos    int             `json:"pos,omitempty"`
	MIMEs  []string        `json:"mimes,omitempty"`
	API    []int           `json:"api,omitempty"`
	ID     string          `json:"id,omitempty"`
	Ext    json.RawMessage `json:"ext,omitempty"`
}

// Format is one allowed banner size (§3.2.10).
type Format struct {
	W      int64           `json:"w,omitempty"`
	H      int64           `json:"h,omitempty"`
	WRatio int64           `json:"wratio,omitempty"`
	HRatio int64           `json:"hratio,omitempty"`
	WMin   int64           `json:"wmin,omitempty"`
	Ext    json.RawMessage `json:"ext,omitempty"`
}

// Video is a video impression (§3.2.7): what the player accepts (VAST, in
// practice). StartDelay, Skip and BoxingAllowed are pointers because 0 says
// something (pre-roll; not skippable; no letter-boxing) that absent does not.
// Placement is the deprecated predecessor of Plcmt, still read by many bidders.
type Video struct {
	MIMEs          []string        `json:"mimes,omitempty"`
	MinDuration    int64           `json:"minduration,omitempty"`
	MaxDuration    int64           `json:"maxduration,omitempty"`
	StartDelay     *int            `json:"startdelay,omitempty"`
	Protocols      []int           `json:"protocols,omitempty"`
	W              int64           `json:"w,omitempty"`
	H              int64           `json:"h,omitempty"`
	Plcmt          int             `json:"plcmt,omitempty"`
	Placement      int             `json:"placement,omitempty"`
	Linearity      int             `json:"linearity,omitempty"`
	Skip           *int8           `json:"skip,omitempty"`
	SkipMin        int64           `json:"skipmin,omitempty"`
	SkipAfter      int64           `json:"skipafter,omitempty"`
	BAttr          []int           `json:"battr,omitempty"`
	MaxExtended    int64           `json:"maxextended,omitempty"`
	MinBitrate     int64           `json:"minbitrate,omitempty"`
	MaxBitrate     int64           `json:"maxbitrate,omitempty"`
	BoxingAllowed  *int8           `json:"boxingallowed,omitempty"`
	PlaybackMethod []int           `json:"playbackmethod,omitempty"`
	PlaybackEnd    int             `json:"playbackend,omitempty"`
	Delivery       []int           `json:"delivery,omitempty"`
	Pos            int             `json:"pos,omitempty"`
	API            []int           `json:"api,omitempty"`
	CompanionType  []int           `json:"companiontype,omitempty"`
	Ext            json.RawMessage `json:"ext,omitempty"`
}

// Audio is an audio impression (§3.2.8). StartDelay is a pointer for the same
// reason as Video's.
type Audio struct {
	MIMEs       []string        `json:"mimes,omitempty"`
	MinDuration int64           `json:"minduration,omitempty"`
	MaxDuration int64           `json:"maxduration,omitempty"`
	Protocols   []int           `json:"protocols,omitempty"`
	StartDelay  *int            `json:"startdelay,omitempty"`
	BAttr       []int           `json:"battr,omitempty"`
	MaxExtended int64           `json:"maxextended,omitempty"`
	MinBitrate  int64           `json:"minbitrate,omitempty"`
	MaxBitrate  int64           `json:"maxbitrate,omitempty"`
	Delivery    []int           `json:"delivery,omitempty"`
	API         []int           `json:"api,omitempty"`
	Feed        int             `json:"feed,omitempty"`
	Stitched    *int8           `json:"stitched,omitempty"`
	NVol        int             `json:"nvol,omitempty"`
	Ext         json.RawMessage `json:"ext,omitempty"`
}

// Native is a native impression (§3.2.9). Request is the Native Ad Specification
// request, itself a JSON document carried as a string.
type Native struct {
	Request string          `json:"request"`
	Ver     string          `json:"ver,omitempty"`
	API     []int           `json:"api,omitempty"`
	BAttr   []int           `json:"battr,omitempty"`
	Ext     json.RawMessage `json:"ext,omitempty"`
}

// App describes the publisher's app (§3.2.14).
type App struct {
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Bundle    string          `json:"bundle,omitempty"`
	Domain    string          `json:"domain,omitempty"`
	StoreURL  string          `json:"storeurl,omitempty"`
	Cat       []string        `json:"cat,omitempty"`
	Ver       string          `json:"ver,omitempty"`
	Publisher *Publisher      `json:"publisher,omitempty"`
	Ext       json.RawMessage `json:"ext,omitempty"`
}

// Publisher is the publisher of the app (§3.2.15).
type Publisher struct {
	ID     string          `json:"id,omitempty"`
	Name   string          `json:"name,omitempty"`
	Domain string          `json:"domain,omitempty"`
	Ext    json.RawMessage `json:"ext,omitempty"`
}

// Device describes the user's device (§3.2.18).
type Device struct {
	Geo            *Geo            `json:"geo,omitempty"`
	DNT            *int8           `json:"dnt,omitempty"`
	Lmt            *int8           `json:"lmt,omitempty"`
	UA             string          `json:"ua,omitempty"`
	IP             string          `json:"ip,omitempty"`
	IPv6           string          `json:"ipv6,omitempty"`
	DeviceType     int             `json:"devicetype,omitempty"`
	Make           string          `json:"make,omitempty"`
	Model          string          `json:"model,omitempty"`
	OS             string          `json:"os,omitempty"`
	OSV            string          `json:"osv,omitempty"`
	H              int64           `json:"h,omitempty"`
	W              int64           `json:"w,omitempty"`
	Language       string          `json:"language,omitempty"`
	ConnectionType *int            `json:"connectiontype,omitempty"`
	IFA            string          `json:"ifa,omitempty"`
	Ext            json.RawMessage `json:"ext,omitempty"`
}

// Geo is a location (§3.2.19).
type Geo struct {
	Lat     *float64        `json:"lat,omitempty"`
	Lon     *float64        `json:"lon,omitempty"`
	Type    int             `json:"type,omitempty"`
	Country string          `json:"country,omitempty"`
	Region  string          `json:"region,omitempty"`
	City    string          `json:"city,omitempty"`
	ZIP     string          `json:"zip,omitempty"`
	Ext     json.RawMessage `json:"ext,omitempty"`
}

// User describes the audience (§3.2.20). Consent is the TCF consent string;
// Data and EIDs are identifying data that privacy enforcement removes.
type User struct {
	ID       string          `json:"id,omitempty"`
	BuyerUID string          `json:"buyeruid,omitempty"`
	Consent  string          `json:"consent,omitempty"`
	Data     []Data          `json:"data,omitempty"`
	EIDs     []EID           `json:"eids,omitempty"`
	Ext      json.RawMessage `json:"ext,omitempty"`
}

// Data is a data provider's segments about the user (§3.2.21).
type Data struct {
	ID      string          `json:"id,omitempty"`
	Name    string          `json:"name,omitempty"`
	Segment []Segment       `json:"segment,omitempty"`
	Ext     json.RawMessage `json:"ext,omitempty"`
}

// Segment is one data segment (§3.2.22).
type Segment struct {
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Value string          `json:"value,omitempty"`
	Ext   json.RawMessage `json:"ext,omitempty"`
}

// EID is an extended identifier from one source (§3.2.27).
type EID struct {
	Source string          `json:"source,omitempty"`
	UIDs   []UID           `json:"uids,omitempty"`
	Ext    json.RawMessage `json:"ext,omitempty"`
}

// UID is one identifier of an EID (§3.2.28).
type UID struct {
	ID    string          `json:"id,omitempty"`
	AType int             `json:"atype,omitempty"`
	Ext   json.RawMessage `json:"ext,omitempty"`
}

// Regs carries the regulations in force (§3.2.3). The flags are pointers because
// 0 ("not subject") and absent ("unknown") mean different things.
type Regs struct {
	COPPA     *int8           `json:"coppa,omitempty"`
	GDPR      *int8           `json:"gdpr,omitempty"`
	USPrivacy string          `json:"us_privacy,omitempty"`
	GPP       string          `json:"gpp,omitempty"`
	GPPSID    []int           `json:"gpp_sid,omitempty"`
	Ext       json.RawMessage `json:"ext,omitempty"`
}

// Source describes the inventory source (§3.2.2). TID is the transaction id.
type Source struct {
	FD  *int8           `json:"fd,omitempty"`
	TID string          `json:"tid,omitempty"`
	Ext json.RawMessage `json:"ext,omitempty"`
}

// BidResponse is the top-level response object (§4.2.1). An empty SeatBid means
// no bid; so does an HTTP 204.
type BidResponse struct {
	ID         string          `json:"id"`
	SeatBid    []SeatBid       `json:"seatbid,omitempty"`
	BidID      string          `json:"bidid,omitempty"`
	Cur        string          `json:"cur,omitempty"`
	CustomData string          `json:"customdata,omitempty"`
	NBR        *int            `json:"nbr,omitempty"`
	Ext        json.RawMessage `json:"ext,omitempty"`
}

// SeatBid is the bids of one buyer seat (§4.2.2).
type SeatBid struct {
	Bid   []Bid           `json:"bid"`
	Seat  string          `json:"seat,omitempty"`
	Group int8            `json:"group,omitempty"`
	Ext   json.RawMessage `json:"ext,omitempty"`
}

// Bid is one offer to buy an impression (§4.2.3). Price is CPM in the response's
// currency.
type Bid struct {
	ID      string          `json:"id"`
	ImpID   string          `json:"impid"`
	Price   float64         `json:"price"`
	NURL    string          `json:"nurl,omitempty"`
	BURL    string          `json:"burl,omitempty"`
	LURL    string          `json:"lurl,omitempty"`
	AdM     string          `json:"adm,omitempty"`
	AdID    string          `json:"adid,omitempty"`
	ADomain []string        `json:"adomain,omitempty"`
	Bundle  string          `json:"bundle,omitempty"`
	IURL    string          `json:"iurl,omitempty"`
	CID     string          `json:"cid,omitempty"`
	CrID    string          `json:"crid,omitempty"`
	Cat     []string        `json:"cat,omitempty"`
	Attr    []int           `json:"attr,omitempty"`
	DealID  string          `json:"dealid,omitempty"`
	W       int64           `json:"w,omitempty"`
	H       int64           `json:"h,omitempty"`
	Exp     int64           `json:"exp,omitempty"`
	MType   int8            `json:"mtype,omitempty"`
	Ext     json.RawMessage `json:"ext,omitempty"`
}
