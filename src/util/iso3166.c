/*
 * ISO 3166-1 alpha-2 (every officially assigned code) and ISO 3166-2 subdivision codes
 * for the countries whose subdivisions matter most to residency rules. A subdivision of
 * a country listed here must be in its table; for other countries `rules check` accepts
 * any [A-Z0-9]{1,3} with a warning. Tables are space-separated for compactness and
 * readability; lookups only run at check time.
 */
#include <string.h>
#include "util/validate.h"

static const char countries[] = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ "
                                "BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ "
                                "CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ "
                                "DE DJ DK DM DO DZ "
                                "EC EE EG EH ER ES ET "
                                "FI FJ FK FM FO FR "
                                "GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY "
                                "HK HM HN HR HT HU "
                                "ID IE IL IM IN IO IQ IR IS IT "
                                "JE JM JO JP "
                                "KE KG KH KI KM KN KP KR KW KY KZ "
                                "LA LB LC LI LK LR LS LT LU LV LY "
                                "MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ "
                                "NA NC NE NF NG NI NL NO NP NR NU NZ "
                                "OM "
                                "PA PE PF PG PH PK PL PM PN PR PS PT PW PY "
                                "QA "
                                "RE RO RS RU RW "
                                "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ "
                                "TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ "
                                "UA UG UM US UY UZ "
                                "VA VC VE VG VI VN VU "
                                "WF WS "
                                "YE YT "
                                "ZA ZM ZW "
                                "XK";

static const struct {
    const char *country;
    const char *codes;
} subdivisions[] = {
    {"US", "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
           "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR UM VI"},
    {"CA", "AB BC MB NB NL NS NT NU ON PE QC SK YT"},
    {"BR", "AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO"},
    /* India: the 2023 codes (CG, OD, TS, UK) and the ones they replaced, which geo databases still return. */
    {"IN", "AN AP AR AS BR CH CG CT DH DD DN DL GA GJ HR HP JK JH KA KL LA LD MP MH MN ML MZ NL OD OR PB PY RJ SK TN "
           "TG TS TR UP UK UT WB"},
    {"CN", "AH BJ CQ FJ GD GS GX GZ HA HB HE HI HK HL HN JL JS JX LN MO NM NX QH SC SD SH SN SX TJ TW XJ XZ YN ZJ"},
    {"RU", "AD AL ALT AMU ARK AST BA BEL BRY BU CE CHE CHU CU DA IN IRK IVA KAM KB KC KDA KEM KGD KGN KHA KHM KIR KK "
           "KL KLU KO KOS KR KRS LEN LIP MAG ME MO MOS MOW MUR NEN NGR NIZ NVS OMS ORE ORL PER PNZ PRI PSK ROS RYA SA "
           "SAK SAM SAR SE SMO SPE STA SVE TA TAM TOM TUL TVE TY TYU UD ULY VGG VLA VLG VOR YAN YAR YEV ZAB"},
    /* Great Britain: the nations, then counties, boroughs, districts and council areas. */
    {"GB", "ENG NIR SCT WLS GBN UKM "
           "BKM CAM CMA DBY DEV DOR ESX ESS GLS HAM HRT KEN LAN LEC LIN NFK NYK NTH NTT OXF SOM STS SFK SRY WAR WSX "
           "WOR LND BDG BNE BEX BEN BRY CMD CRY EAL ENF GRE HCK HMF HRY HRW HAV HIL HNS ISL KEC KTT LBH LEW MRT NWM "
           "RDB RIC SWK STN TWH WFT WND WSM BNS BIR BOL BRD BUR CLD COV DNC DUD GAT KIR KWL LDS LIV MAN NET NTY OLD "
           "RCH ROT SHN SLF SAW SFT SHF SOL STY SKP SND TAM TRF WKF WLL WGN WRL WLV BAS BDF BBD BPL BCP BRC BNH BST "
           "CBF CHE CHW CON DAL DER DUR ERY HAL HPL HEF IOW IOS KHL LCE LUT MDW MDB MIK NEL NLN NNH NSM NBL NGM PTE "
           "PLY POR RDG RCC RUT SHR SLG SGC STH SOS STT STE SWD TFW THR TOB WRT WBK WIL WNM WOK YOR WNH ANN AND ABC "
           "BFS CCG DRS FMO LBC MEA MUL NMD ABE ABD ANS AGB CLK DGY DND EAY EDU ELN ERW EDH ELS FAL FIF GLG HLD IVC "
           "MLN MRY NAY NLK ORK PKN RFW SCB ZET SAY SLK STG WDU WLN BGW BGE CAY CRF CMN CGN CWY DEN FLN GWN AGY MTY "
           "MON NTL NWP PEM POW RCT SWA TOF VGL WRX"},
    {"DE", "BB BE BW BY HB HE HH MV NI NW RP SH SL SN ST TH"},
    {"AU", "ACT NSW NT QLD SA TAS VIC WA"},
    {"CH", "AG AI AR BE BL BS FR GE GL GR JU LU NE NW OW SG SH SO SZ TG TI UR VD VS ZG ZH"},
};

/* Looks for the whole word s (len bytes) in a space-separated list. */
static int in_list(const char *list, const char *s, size_t len)
{
    const char *p = list;
    while (*p != '\0') {
        const char *end = strchr(p, ' ');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == len && memcmp(p, s, len) == 0)
            return 1;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return 0;
}

int dom__iso_country_known(const char *s, size_t len)
{
    if (len != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
        return 0;
    return in_list(countries, s, len);
}

/* The EU-27 member states (since 1 February 2020). */
static const char eu_members[] = "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK";

int dom__iso_country_in_eu(const char *s, size_t len)
{
    return dom__iso_country_known(s, len) && in_list(eu_members, s, len);
}

size_t dom__iso_eu_member_count(void)
{
    return (sizeof(eu_members) - 1 + 1) / 3;
}

size_t dom__iso_country_count(void)
{
    return (sizeof(countries) - 1 + 1) / 3;
}

dom__iso_sub_t dom__iso_subdivision_check(const char *s, size_t len)
{
    if (len < 4 || len > 6 || s[2] != '-')
        return DOM__ISO_SUB_MALFORMED;
    for (size_t i = 3; i < len; ++i)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return DOM__ISO_SUB_MALFORMED;
    if (!dom__iso_country_known(s, 2))
        return (s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z') ? DOM__ISO_SUB_BAD_COUNTRY
                                                                          : DOM__ISO_SUB_MALFORMED;
    for (size_t i = 0; i < sizeof(subdivisions) / sizeof(subdivisions[0]); ++i)
        if (memcmp(subdivisions[i].country, s, 2) == 0)
            return in_list(subdivisions[i].codes, s + 3, len - 3) ? DOM__ISO_SUB_OK : DOM__ISO_SUB_UNKNOWN;
    return DOM__ISO_SUB_NO_TABLE;
}

/* ISO 3166-1 alpha-3 to alpha-2 (from Debian's iso-codes), for "did you mean": each entry is the
 * three letters then the two. XKX is the user-assigned code Kosovo's authorities and some databases use. */
static const char alpha3[] =
    "ABWAW AFGAF AGOAO AIAAI ALAAX ALBAL ANDAD AREAE ARGAR ARMAM ASMAS ATAAQ ATFTF ATGAG AUSAU AUTAT "
    "AZEAZ BDIBI BELBE BENBJ BESBQ BFABF BGDBD BGRBG BHRBH BHSBS BIHBA BLMBL BLRBY BLZBZ BMUBM BOLBO "
    "BRABR BRBBB BRNBN BTNBT BVTBV BWABW CAFCF CANCA CCKCC CHECH CHLCL CHNCN CIVCI CMRCM CODCD COGCG "
    "COKCK COLCO COMKM CPVCV CRICR CUBCU CUWCW CXRCX CYMKY CYPCY CZECZ DEUDE DJIDJ DMADM DNKDK DOMDO "
    "DZADZ ECUEC EGYEG ERIER ESHEH ESPES ESTEE ETHET FINFI FJIFJ FLKFK FRAFR FROFO FSMFM GABGA GBRGB "
    "GEOGE GGYGG GHAGH GIBGI GINGN GLPGP GMBGM GNBGW GNQGQ GRCGR GRDGD GRLGL GTMGT GUFGF GUMGU GUYGY "
    "HKGHK HMDHM HNDHN HRVHR HTIHT HUNHU IDNID IMNIM INDIN IOTIO IRLIE IRNIR IRQIQ ISLIS ISRIL ITAIT "
    "JAMJM JEYJE JORJO JPNJP KAZKZ KENKE KGZKG KHMKH KIRKI KNAKN KORKR KWTKW LAOLA LBNLB LBRLR LBYLY "
    "LCALC LIELI LKALK LSOLS LTULT LUXLU LVALV MACMO MAFMF MARMA MCOMC MDAMD MDGMG MDVMV MEXMX MHLMH "
    "MKDMK MLIML MLTMT MMRMM MNEME MNGMN MNPMP MOZMZ MRTMR MSRMS MTQMQ MUSMU MWIMW MYSMY MYTYT NAMNA "
    "NCLNC NERNE NFKNF NGANG NICNI NIUNU NLDNL NORNO NPLNP NRUNR NZLNZ OMNOM PAKPK PANPA PCNPN PERPE "
    "PHLPH PLWPW PNGPG POLPL PRIPR PRKKP PRTPT PRYPY PSEPS PYFPF QATQA REURE ROURO RUSRU RWARW SAUSA "
    "SDNSD SENSN SGPSG SGSGS SHNSH SJMSJ SLBSB SLESL SLVSV SMRSM SOMSO SPMPM SRBRS SSDSS STPST SURSR "
    "SVKSK SVNSI SWESE SWZSZ SXMSX SYCSC SYRSY TCATC TCDTD TGOTG THATH TJKTJ TKLTK TKMTM TLSTL TONTO "
    "TTOTT TUNTN TURTR TUVTV TWNTW TZATZ UGAUG UKRUA UMIUM URYUY USAUS UZBUZ VATVA VCTVC VENVE VGBVG "
    "VIRVI VNMVN VUTVU WLFWF WSMWS YEMYE ZAFZA ZMBZM ZWEZW XKXXK";

/* Codes people write for a country that ISO 3166-1 reserves for another use, and what they mean. */
static const char *const reserved[][2] = {{"UK", "GB"}, {"EL", "GR"}, {"SU", "RU"}, {"YU", "RS"}};

int dom__iso_country_at(size_t i, char out[3])
{
    if (i >= dom__iso_country_count())
        return -1;
    out[0] = countries[i * 3];
    out[1] = countries[i * 3 + 1];
    out[2] = '\0';
    return 0;
}

const char *dom__iso_country_suggest(const char *s, size_t len, char out[3])
{
    char up[3];
    if (len != 2 && len != 3)
        return NULL;
    for (size_t i = 0; i < len; ++i)
        up[i] = s[i] >= 'a' && s[i] <= 'z' ? (char)(s[i] - 'a' + 'A') : s[i];
    if (len == 2) {
        for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); ++i)
            if (memcmp(reserved[i][0], up, 2) == 0) {
                memcpy(out, reserved[i][1], 3);
                return out;
            }
        if (memcmp(up, s, 2) != 0 && dom__iso_country_known(up, 2)) { /* "de": DE */
            memcpy(out, up, 2);
            out[2] = '\0';
            return out;
        }
        return NULL;
    }
    for (const char *p = alpha3; *p != '\0'; p += p[5] == ' ' ? 6 : 5)
        if (memcmp(p, up, 3) == 0) {
            memcpy(out, p + 3, 2);
            out[2] = '\0';
            return out;
        }
    return NULL;
}
